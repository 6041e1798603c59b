package security

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// HTTPError is an authentication or authorization refusal on an HTTP
// server, with the status to answer (401 or 403).
type HTTPError struct {
	Code int
	Msg  string
}

func (e *HTTPError) Error() string { return e.Msg }

// AuthenticateHTTP is Authenticate for an HTTP request: a bearer token in
// the Authorization header when there is one (checked against
// Credentials; the scheme is case-insensitive), else the verified client
// certificate of a TLS connection, else "" when authentication is not
// required; a verified certificate must be bound to one of Roles, with a
// token too. Refusals are *HTTPError: 401, 403 for a certificate of a
// role this server does not admit, 429 for a peer over its failure budget
// (Failures).
func (a *Authenticator) AuthenticateHTTP(r *http.Request) (string, error) {
	addr := peerIP(r.RemoteAddr)
	method := r.Method + " " + r.URL.Path
	var cert *x509.Certificate
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		cert = r.TLS.PeerCertificates[0]
	}
	vals := r.Header.Values("Authorization")
	hasAuthz := len(vals) > 0
	var authz string
	if hasAuthz {
		authz = vals[0]
	}
	p, f := a.authenticate(r.Context(), addr, method, authz, hasAuthz, cert,
		"no credentials: present a client certificate signed by the cluster CA or an \"Authorization: Bearer TOKEN\" header")
	if f != nil {
		return "", &HTTPError{f.http, f.msg}
	}
	return p, nil
}

// WriteHTTPError answers err as JSON {"error": ...}: an *HTTPError with
// its status, a *DeniedError with 403, anything else with 500.
func WriteHTTPError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch e := err.(type) {
	case *HTTPError:
		code = e.Code
	case *DeniedError:
		code = http.StatusForbidden
	}
	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mezzo"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// HTTPServerTLS is the TLS 1.3 configuration of an HTTP server of the
// cluster: it verifies a client certificate against the CA when one is
// given but does not demand one, so that browsers and curl can name
// themselves with a bearer token instead; AuthenticateHTTP then decides.
func HTTPServerTLS(f TLSFiles) (*tls.Config, error) {
	cfg, err := ServerTLS(f)
	if err != nil {
		return nil, err
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg, nil
}

// Guard wraps h: each request is authenticated by a (401 when that
// fails), and allow, when set, decides with the caller's principal
// (nil or a *DeniedError, answered 403). The principal goes into the
// request's context (PrincipalFrom).
func Guard(a *Authenticator, allow func(r *http.Request, principal string) error, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.AuthenticateHTTP(r)
		if err != nil {
			WriteHTTPError(w, err)
			return
		}
		if allow != nil {
			if err := allow(r, p); err != nil {
				WriteHTTPError(w, err)
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// OnlyPrincipals is an allow function for Guard that admits the listed
// principals (ANY: every authenticated one).
func OnlyPrincipals(action Action, principals ...string) func(*http.Request, string) error {
	return func(_ *http.Request, p string) error {
		if p != "" && matches(principals, p) {
			return nil
		}
		if p == "" {
			p = "(anonymous)"
		}
		return &HTTPError{http.StatusForbidden, fmt.Sprintf("not authorized: principal %q may not %s here: this server admits %s only", p, action, strings.Join(principals, ", "))}
	}
}
