package mail_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/gesundheitsamt/portal/internal/mail"
)

func TestDKIMSignaturesVerify(t *testing.T) {
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		key    any
		record string
	}{
		{"ed25519", edKey, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
		{"rsa", rsaKey, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
	} {
		der, err := x509.MarshalPKCS8PrivateKey(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, tc.name+".pem")
		if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		signer, err := mail.LoadDKIM(file, "portal", "portal@gesundheitsamt.example")
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := mail.Message{From: mail.Address{Name: "Gesundheitsamt Leipzig", Email: "portal@gesundheitsamt.example"},
			To: mail.Address{Email: "zoe@example.org"}, Subject: "Ihr Antrag ist eingegangen: LEJ-2026-7K3M-Q9TX",
			Text: "Grüße", HTML: "<p>Grüße</p>"}.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := signer.Sign(raw)
		if err != nil {
			t.Fatal(err)
		}
		lookup := func(domain string) ([]string, error) {
			if domain != "portal._domainkey.gesundheitsamt.example" {
				t.Errorf("%s: looked up %s", tc.name, domain)
			}
			return []string{tc.record}, nil
		}
		verify := func(msg []byte) error {
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
			if err != nil {
				return err
			}
			if len(vs) != 1 {
				t.Fatalf("%s: %d signatures", tc.name, len(vs))
			}
			return vs[0].Err
		}
		if err := verify(signed); err != nil {
			t.Errorf("%s: the signature does not verify: %v", tc.name, err)
		}
		tampered := bytes.Replace(signed, []byte("LEJ-2026-7K3M-Q9TX"), []byte("LEJ-2026-7K3M-Q9TY"), 1)
		if err := verify(tampered); err == nil {
			t.Errorf("%s: a changed subject still verifies", tc.name)
		}
		if !strings.Contains(string(signed), "d=gesundheitsamt.example") {
			t.Errorf("%s: signature not for the sender's domain", tc.name)
		}
	}
}
