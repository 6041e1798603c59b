package security

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// principalURIPrefix marks the URI SAN that carries a certificate's
// principal: mezzo://principal/NAME.
const principalURIPrefix = "mezzo://principal/"

// roleURIPrefix marks the URI SAN that carries a certificate's role:
// mezzo://role/ROLE.
const roleURIPrefix = "mezzo://role/"

// Role is what a certificate may be used as in a mezzo cluster. It is
// bound in the certificate (the URI SAN mezzo://role/ROLE, signed by the
// CA like the principal) and checked by every peer: a client dialling a
// master accepts only a master's certificate, the master's sandbox proxy
// only an agent's, and the master takes agent calls only from agent
// certificates and scheduler calls only from client ones. Extended key
// usages cannot say this: the master's certificate is also a client (of
// the agents' sandbox servers) and the agent's also a server (its own
// --http), so both carry server and client authentication.
type Role string

// The roles `mezzo certs init` issues.
const (
	// RoleMaster serves the SchedulerAPI, the AgentAPI and the master's
	// HTTP, and reads sandboxes from agents.
	RoleMaster Role = "master"
	// RoleAgent registers with the master and serves its own sandboxes.
	RoleAgent Role = "agent"
	// RoleClient is a scheduler's or an operator's: it calls the master.
	RoleClient Role = "client"
)

func (r Role) valid() bool { return r == RoleMaster || r == RoleAgent || r == RoleClient }

// ErrNoRole is wrapped by CertRole's error for a certificate without a
// role, such as those an older `mezzo certs init` made.
var ErrNoRole = errors.New("it carries no mezzo role (it predates roles): issue the cluster's certificates again with `mezzo certs init`")

// CertRole is the role a certificate is bound to. A certificate with no
// role, with several, or with one mezzo does not know is refused: a peer
// that cannot tell what a certificate is for must not trust it for
// anything.
func CertRole(c *x509.Certificate) (Role, error) {
	var roles []Role
	for _, u := range c.URIs {
		if s, ok := strings.CutPrefix(u.String(), roleURIPrefix); ok {
			roles = append(roles, Role(s))
		}
	}
	who := PrincipalFromCert(c)
	switch {
	case len(roles) == 0:
		return "", fmt.Errorf("certificate of %q: %w", who, ErrNoRole)
	case len(roles) > 1:
		return "", fmt.Errorf("certificate of %q names %d roles %q; a certificate has one", who, len(roles), roles)
	case !roles[0].valid():
		return "", fmt.Errorf("certificate of %q has the unknown role %q (want %s, %s or %s)", who, roles[0], RoleMaster, RoleAgent, RoleClient)
	}
	return roles[0], nil
}

// CA is a certificate authority that issues the cluster's certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// NewCA makes a self-signed CA valid from notBefore to notAfter.
func NewCA(name string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mezzo"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// LoadCA reads a CA's certificate and key (PEM) to issue more certificates.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key cannot sign", keyFile)
	}
	return &CA{Cert: cert, Key: signer, CertPEM: certPEM}, nil
}

// KeyPEM is the CA's private key, PKCS#8 PEM.
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.Key) }

// CertSpec describes a certificate to issue.
type CertSpec struct {
	// Principal is the identity: CommonName and the URI SAN
	// mezzo://principal/Principal.
	Principal string
	// Hosts are DNS names and IP addresses the certificate serves
	// (server certificates).
	Hosts []string
	// Role, when set, binds the certificate to a role (the URI SAN
	// mezzo://role/Role). Every certificate of a cluster needs one;
	// only certificates outside the cluster's CA (the agent's own
	// executor CA) go without.
	Role Role
	// Server and Client set the extended key usages.
	Server, Client      bool
	NotBefore, NotAfter time.Time
}

// Issue signs a new key pair for spec and returns the certificate and the
// key, PEM.
func (ca *CA) Issue(spec CertSpec) (certPEM, keyPEMBytes []byte, err error) {
	if spec.Principal == "" {
		return nil, nil, errors.New("security: certificate needs a principal")
	}
	if !spec.Server && !spec.Client {
		return nil, nil, errors.New("security: certificate is neither for a server nor a client")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	if spec.Role != "" && !spec.Role.valid() {
		return nil, nil, fmt.Errorf("security: unknown certificate role %q", spec.Role)
	}
	u, err := url.Parse(principalURIPrefix + url.PathEscape(spec.Principal))
	if err != nil {
		return nil, nil, err
	}
	uris := []*url.URL{u}
	if spec.Role != "" {
		ru, err := url.Parse(roleURIPrefix + string(spec.Role))
		if err != nil {
			return nil, nil, err
		}
		uris = append(uris, ru)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.Principal, Organization: []string{"mezzo"}},
		NotBefore:    spec.NotBefore,
		NotAfter:     spec.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		URIs:         uris,
	}
	if spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range spec.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

// PrincipalFromCert is the principal a certificate names: the path of its
// mezzo://principal/ URI SAN, else its CommonName.
func PrincipalFromCert(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if s := u.String(); len(s) > len(principalURIPrefix) && s[:len(principalURIPrefix)] == principalURIPrefix {
			if p, err := url.PathUnescape(s[len(principalURIPrefix):]); err == nil {
				return p
			}
		}
	}
	return c.Subject.CommonName
}

// InitOptions tunes InitDir.
type InitOptions struct {
	// Hosts are added to the master's and agent's server certificates
	// (besides localhost, 127.0.0.1, ::1 and the machine's host name).
	Hosts []string
	// Principals get client certificates besides the defaults
	// "framework" and "admin".
	Principals []string
	// Validity of every certificate; default one year.
	Validity time.Duration
	// Now is the start of validity; default time.Now().
	Now time.Time
}

// InitDir writes a new CA and certificates for a test cluster into dir
// (created 0700), refusing to overwrite an existing ca.key. It returns the
// files written.
func InitDir(dir string, opt InitOptions) ([]string, error) {
	if opt.Validity <= 0 {
		opt.Validity = 365 * 24 * time.Hour
	}
	if err := CheckPrincipalNames(opt.Principals); err != nil {
		return nil, err
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		return nil, fmt.Errorf("%s already holds a CA (ca.key); remove it or pick another directory", dir)
	}
	from, to := opt.Now.Add(-time.Minute), opt.Now.Add(opt.Validity)
	ca, err := NewCA("mezzo cluster CA", from, to)
	if err != nil {
		return nil, err
	}
	var written []string
	write := func(name string, data []byte, mode os.FileMode) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
		written = append(written, p)
		return nil
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := write("ca.crt", ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := write("ca.key", caKey, 0o600); err != nil {
		return nil, err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, opt.Hosts...)
	// The agent's certificate names the hosts for its own --http
	// sandbox server; its role keeps it from passing for the master.
	specs := []CertSpec{
		{Principal: "master", Role: RoleMaster, Hosts: hosts, Server: true, Client: true},
		{Principal: "agent", Role: RoleAgent, Hosts: hosts, Server: true, Client: true},
		{Principal: "framework", Role: RoleClient, Client: true},
		{Principal: "admin", Role: RoleClient, Client: true},
	}
	for _, p := range opt.Principals {
		specs = append(specs, CertSpec{Principal: p, Role: RoleClient, Client: true})
	}
	for _, s := range specs {
		s.NotBefore, s.NotAfter = from, to
		c, k, err := ca.Issue(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Principal, err)
		}
		if err := write(s.Principal+".crt", c, 0o644); err != nil {
			return nil, err
		}
		if err := write(s.Principal+".key", k, 0o600); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// reservedNames are the files InitDir writes for itself: a principal of
// that name would overwrite the CA's, master's or agent's key pair, or get
// a client certificate under a name that peers take for a server's.
var reservedNames = []string{"ca", "master", "agent", "framework", "admin"}

// CheckPrincipalNames refuses InitOptions.Principals that are empty,
// repeated, reserved or not usable as a file name.
func CheckPrincipalNames(ps []string) error {
	seen := map[string]bool{}
	for _, p := range ps {
		switch {
		case p == "":
			return errors.New("an empty principal name")
		case slices.Contains(reservedNames, p):
			return fmt.Errorf("principal %q: the name is taken by a certificate InitDir always writes (%s)", p, strings.Join(reservedNames, ", "))
		case seen[p]:
			return fmt.Errorf("principal %q is named twice", p)
		case strings.ContainsAny(p, "/\\") || strings.HasPrefix(p, "."):
			return fmt.Errorf("principal %q: its name becomes a file name, so it may hold no slash and not start with a dot", p)
		}
		seen[p] = true
	}
	return nil
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}
