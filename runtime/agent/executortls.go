package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// The ExecutorAPI serves TLS 1.3 with a certificate from a CA of this
// agent's own (the executor CA), so that an executor knows it talks to its
// agent and nobody on the host reads its token or its tasks off the wire
// (the listener is TCP, reachable by every local user). Executors verify
// the agent against the CA's certificate, handed to them as a file in
// their sandbox named by MEZZO_AGENT_CA; they identify themselves with
// their per-executor token, not a certificate.
//
// The CA lives in the work directory (executor-ca.crt and executor-ca.key,
// 0600) and is reused by later runs of the agent, so executors that
// outlive an agent restart still trust the next one; the server
// certificate is issued afresh at each start, for the addresses listened
// on. The cluster's certificates are not used: executors would need the
// cluster CA, and the agent's cluster certificate need not name loopback.
const (
	executorCACert = "executor-ca.crt"
	executorCAKey  = "executor-ca.key"
	// sandboxCAFile is the CA's copy in every sandbox (MEZZO_AGENT_CA).
	sandboxCAFile = "agent-ca.crt"
)

// executorTLS loads or creates the executor CA in dir and returns the
// ExecutorAPI's server configuration and the CA certificate (PEM). host
// is the listen host, added to the certificate's names.
func executorTLS(dir, host string, now time.Time) (*tls.Config, []byte, error) {
	ca, err := loadOrCreateExecutorCA(dir, now)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: executor CA in %s: %w", dir, err)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" {
		hosts = append(hosts, host)
	}
	certPEM, keyPEM, err := ca.Issue(security.CertSpec{Principal: "agent", Hosts: hosts, Server: true,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * 365 * 24 * time.Hour)})
	if err != nil {
		return nil, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, ca.CertPEM, nil
}

func loadOrCreateExecutorCA(dir string, now time.Time) (*security.CA, error) {
	certPath, keyPath := filepath.Join(dir, executorCACert), filepath.Join(dir, executorCAKey)
	ca, err := security.LoadCA(certPath, keyPath)
	if err == nil {
		if now.After(ca.Cert.NotAfter) {
			return nil, fmt.Errorf("%s expired on %s: remove %s and %s to make a new one", certPath, ca.Cert.NotAfter.Format(time.DateOnly), certPath, keyPath)
		}
		return ca, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err = security.NewCA("mezzo agent executor CA", now.Add(-time.Minute), now.Add(20*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	// The key first: a crash in between leaves no certificate without it.
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certPath, ca.CertPEM, 0o600); err != nil {
		return nil, err
	}
	return ca, nil
}

// setupExecutorTLS prepares the ExecutorAPI's TLS for the listener lis.
func (a *Agent) setupExecutorTLS(lis net.Listener) error {
	host := ""
	if ta, ok := lis.Addr().(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		host = ta.IP.String()
	}
	cfg, caPEM, err := executorTLS(a.cfg.WorkDir, host, time.Now())
	if err != nil {
		return err
	}
	a.execTLS, a.execCA = cfg, caPEM
	return nil
}

// writeSandboxCA puts the executor CA in a sandbox, readable by the
// container's user (u; nil: the agent's), and returns its path.
func (a *Agent) writeSandboxCA(sandbox string, u *containerUser) (string, error) {
	p := filepath.Join(sandbox, sandboxCAFile)
	f, err := createSandboxFile(p, u)
	if err == nil {
		_, err = f.Write(a.execCA)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return "", fmt.Errorf("executor CA in the sandbox: %w", err)
	}
	return p, nil
}
