package security

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

type x509CertPool = x509.CertPool

func mustLeaf(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}
