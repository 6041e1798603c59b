package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLSFiles names the PEM files of one side of a mutual TLS connection.
type TLSFiles struct {
	Cert, Key string // this side's certificate and key
	CA        string // the CA the peer's certificate must chain to
}

// Enabled reports whether any file is set.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

func (f TLSFiles) load() (tls.Certificate, *x509.CertPool, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return tls.Certificate{}, nil, fmt.Errorf("security: TLS needs a certificate, a key and a CA (got cert %q, key %q, ca %q)", f.Cert, f.Key, f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("security: key pair %s, %s: %w", f.Cert, f.Key, err)
	}
	pool, err := LoadCAPool(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return cert, pool, nil
}

// CertFileRole is the role of the first certificate in a PEM file (see
// CertRole): a command checks its own --tls-cert with it, so that a
// master started with the agent's certificate says so at once rather
// than through every peer's refusal.
func CertFileRole(path string) (Role, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return CertRole(c)
}

// LoadCAPool reads PEM CA certificates.
func LoadCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("security: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("security: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerTLS is a TLS 1.3 server configuration that requires a client
// certificate signed by the CA.
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// ClientTLS is a TLS 1.3 client configuration towards a master: it
// presents f's certificate, verifies the server against f's CA and
// accepts only a certificate bound to RoleMaster, so that another holder
// of a cluster certificate (an agent) cannot pass for the master.
// serverName overrides the name checked against the server's certificate
// ("" takes it from the address dialled).
func ClientTLS(f TLSFiles, serverName string) (*tls.Config, error) {
	return ClientTLSTo(RoleMaster, f, serverName)
}

// ClientTLSTo is ClientTLS towards a server of another role, e.g.
// RoleAgent for an agent's HTTPS. (The master's sandbox proxy sets the
// agent-role check on whatever configuration it is given.)
func ClientTLSTo(server Role, f TLSFiles, serverName string) (*tls.Config, error) {
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		RootCAs:          pool,
		ServerName:       serverName,
		VerifyConnection: VerifyServerRole(server),
	}, nil
}

// MasterCAOnlyTLS verifies a master against a CA, and its certificate's
// role, without presenting a certificate: for clients that name
// themselves with a bearer token, which must reach nothing but a master
// (the token goes out only once the handshake has verified the server).
func MasterCAOnlyTLS(caFile string) (*tls.Config, error) {
	cfg, err := ClientCAOnlyTLS(caFile)
	if err != nil {
		return nil, err
	}
	cfg.VerifyConnection = VerifyServerRole(RoleMaster)
	return cfg, nil
}

// ClientCAOnlyTLS verifies the server against a CA without presenting a
// certificate, and without a role check: executors use it towards their
// agent, whose executor CA is its own and whose certificate has no role.
// Clients of a master use MasterCAOnlyTLS.
func ClientCAOnlyTLS(caFile string) (*tls.Config, error) {
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}, nil
}

// VerifyServerRole is a tls.Config.VerifyConnection for clients: it fails
// the handshake unless the server's verified certificate is bound to
// want. It runs after the chain and the host name are verified, before
// anything (a bearer token, a task) is sent.
func VerifyServerRole(want Role) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("security: the server showed no certificate")
		}
		got, err := CertRole(cs.PeerCertificates[0])
		if err != nil {
			return fmt.Errorf("security: server %s is not trusted as a mezzo %s: %w", cs.ServerName, want, err)
		}
		if got != want {
			return fmt.Errorf("security: server %s is not a mezzo %s: its certificate (principal %q) is bound to role %s", cs.ServerName, want, PrincipalFromCert(cs.PeerCertificates[0]), got)
		}
		return nil
	}
}

// DialOptions are the gRPC dial options of a client: TLS when cfg is set
// (insecure otherwise) and a bearer token when token is set.
func DialOptions(cfg *tls.Config, token string) []grpc.DialOption {
	var opts []grpc.DialOption
	if cfg != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, secure: cfg != nil}))
	}
	return opts
}

// bearer sends "authorization: Bearer TOKEN" on every call. It has no
// String method on purpose: the token must not end up in logs.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false without TLS so tokens work on loopback
// test clusters; CheckListen keeps plaintext off the network.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// ReadTokenFile reads a bearer token from a file (surrounding space
// trimmed).
func ReadTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

// ErrPlaintextOnNetwork is returned by CheckListen.
var ErrPlaintextOnNetwork = errors.New("refusing to serve without TLS on a non-loopback address: anyone who reaches it could run any command on every agent; give --tls-cert, --tls-key and --tls-ca (see `mezzo certs init`), or --insecure to accept the risk")

// CheckListen enforces that a server on a non-loopback address uses TLS
// unless insecure is set. A host name other than "localhost", or an empty
// host (all interfaces), counts as non-loopback.
func CheckListen(addr string, tlsOn, insecure bool) error {
	if tlsOn || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s: %w", addr, ErrPlaintextOnNetwork)
}
