package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateSecrets fills SecretKey and EncryptionKey, when they were not
// given, from files under DataDir, generating them (mode 0600) on first use.
// Only development may do this; production must be given both keys, which
// Load already enforces. It reports which keys it generated.
func (c *Config) LoadOrCreateSecrets() (generated []string, err error) {
	if c.SecretKey != nil && c.EncryptionKey != nil {
		return nil, nil
	}
	if c.Production() {
		return nil, errors.New("config: production needs PORTAL_SECRET_KEY and PORTAL_ENCRYPTION_KEY")
	}
	if err := os.MkdirAll(c.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("config: create data dir: %w", err)
	}
	if c.SecretKey == nil {
		s, created, err := loadOrCreateKeyFile(filepath.Join(c.DataDir, "secret.key"))
		if err != nil {
			return nil, err
		}
		if created {
			generated = append(generated, "PORTAL_SECRET_KEY")
		}
		if len(s) < 32 { // an empty key would make every signature forgeable
			return nil, fmt.Errorf("config: %s holds fewer than 32 characters; delete it to have a new one generated",
				filepath.Join(c.DataDir, "secret.key"))
		}
		c.SecretKey = []byte(s)
	}
	if c.EncryptionKey == nil {
		s, created, err := loadOrCreateKeyFile(filepath.Join(c.DataDir, "encryption.key"))
		if err != nil {
			return nil, err
		}
		if created {
			generated = append(generated, "PORTAL_ENCRYPTION_KEY")
		}
		if c.EncryptionKey, err = DecodeKey(s); err != nil {
			return nil, fmt.Errorf("config: %s: %w", filepath.Join(c.DataDir, "encryption.key"), err)
		}
	}
	return generated, nil
}

// LoadExistingSecrets fills SecretKey and EncryptionKey, when they were not
// given, from the files LoadOrCreateSecrets keeps under DataDir, but never
// creates one: backup and restore must not invent a key, since data
// sealed under an invented key would be lost with it. A key that is
// neither given nor stored stays nil; a stored one that is malformed is
// an error.
func (c *Config) LoadExistingSecrets() error {
	if c.SecretKey == nil {
		path := filepath.Join(c.DataDir, "secret.key")
		if b, err := os.ReadFile(path); err == nil {
			c.SecretKey = []byte(strings.TrimSpace(string(b)))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("config: read %s: %w", path, err)
		}
	}
	if c.EncryptionKey == nil {
		path := filepath.Join(c.DataDir, "encryption.key")
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("config: read %s: %w", path, err)
		}
		if c.EncryptionKey, err = DecodeKey(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
	}
	return nil
}

// loadOrCreateKeyFile returns the base64 key stored in path, creating it with
// 32 random bytes (mode 0600, as os.CreateTemp makes it) when it does not
// exist.
func loadOrCreateKeyFile(path string) (key string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("config: read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, fmt.Errorf("config: generate key: %w", err)
	}
	key = base64.StdEncoding.EncodeToString(raw)
	// Write a private temporary file, then link it into place: link fails
	// when the name exists, so two processes starting at once agree on one
	// key and nobody ever reads a half-written file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return "", false, fmt.Errorf("config: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("config: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("config: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return loadOrCreateKeyFile(path)
	} else if err != nil {
		return "", false, fmt.Errorf("config: create %s: %w", path, err)
	}
	return key, true, nil
}
