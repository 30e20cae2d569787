package mail

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs mails for a domain (RFC 6376), so receiving servers can tell
// they come from the office's portal and were not changed on the way.
type DKIM struct {
	Domain   string
	Selector string
	Key      crypto.Signer // RSA or Ed25519
}

// signedHeaders are the headers the signature covers.
var signedHeaders = []string{"From", "Reply-To", "To", "Subject", "Date", "Message-Id", "Content-Type", "Mime-Version", "Auto-Submitted"}

// Sign returns msg with a DKIM-Signature header.
func (d *DKIM) Sign(msg []byte) ([]byte, error) {
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: d.Domain, Selector: d.Selector, Signer: d.Key, HeaderKeys: signedHeaders,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		return nil, fmt.Errorf("mail: DKIM: %w", err)
	}
	return out.Bytes(), nil
}

// LoadDKIM reads a PEM private key (PKCS #8, or PKCS #1 for RSA) for
// signing mails of the domain of from.
func LoadDKIM(keyFile, selector, from string) (*DKIM, error) {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("mail: DKIM key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("mail: DKIM key: no PEM block in " + keyFile)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("mail: DKIM key: %w", err)
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("mail: DKIM key: not a signing key")
	}
	return &DKIM{Domain: domainOf(from), Selector: selector, Key: signer}, nil
}
