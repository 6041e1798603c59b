package security

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Credentials are the principals' secrets from a credentials file. The
// secrets are kept only as SHA-256 digests and compared in constant time.
type Credentials struct {
	entries []credential
}

type credential struct {
	principal string
	digest    [sha256.Size]byte
}

type credentialsFile struct {
	Credentials []struct {
		Principal string `json:"principal"`
		Secret    string `json:"secret"`
	} `json:"credentials"`
}

// MinSecretLen is the shortest secret a credentials file may hold: 16
// bytes (128 bits as hex is 32), so that a token is guessed neither by a
// search nor within the failure throttle's few tries a second.
const MinSecretLen = 16

// LoadCredentials reads a credentials file (see the package doc).
func LoadCredentials(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return ParseCredentials(path, data)
}

// ParseCredentials parses a credentials file's content; name is used in
// errors. Every entry needs a principal and a secret; a secret may belong
// to one principal only (otherwise a token would not say who is calling).
// Errors never quote a secret.
func ParseCredentials(name string, data []byte) (*Credentials, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f credentialsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %s", name, jsonError(data, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	c := &Credentials{}
	seen := map[[sha256.Size]byte]string{}
	for i, e := range f.Credentials {
		switch {
		case e.Principal == "":
			return nil, fmt.Errorf("%s: credentials[%d] has no principal", name, i)
		case e.Secret == "":
			return nil, fmt.Errorf("%s: credentials[%d] (principal %q) has no secret", name, i, e.Principal)
		case len(e.Secret) < MinSecretLen:
			return nil, fmt.Errorf("%s: credentials[%d] (principal %q): the secret is %d bytes, under the %d a secret needs (make one with: openssl rand -hex 16)", name, i, e.Principal, len(e.Secret), MinSecretLen)
		}
		d := sha256.Sum256([]byte(e.Secret))
		if other, dup := seen[d]; dup && other != e.Principal {
			return nil, fmt.Errorf("%s: credentials[%d] (principal %q) reuses the secret of principal %q", name, i, e.Principal, other)
		}
		seen[d] = e.Principal
		c.entries = append(c.entries, credential{principal: e.Principal, digest: d})
	}
	if len(c.entries) == 0 {
		return nil, fmt.Errorf("%s: no credentials", name)
	}
	return c, nil
}

// Lookup returns the principal whose secret is token. It compares the
// token's digest with every entry, in constant time each, so the time
// taken says nothing about which entry (or what prefix) matched.
func (c *Credentials) Lookup(token string) (string, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range c.entries {
		if subtle.ConstantTimeCompare(d[:], c.entries[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return c.entries[found].principal, true
}

// jsonError names the line and column of a JSON syntax or type error.
func jsonError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err.Error()
	}
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}
