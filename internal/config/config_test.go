package config

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const validKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes, base64

func TestLoadDefaults(t *testing.T) {
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != Development || c.Addr != "127.0.0.1:8080" || c.DataDir != "./var" || c.MailFrom != "portal@localhost" {
		t.Errorf("defaults: %+v", c)
	}
	if c.BaseURL.String() != "http://localhost:8080" {
		t.Errorf("base url %q", c.BaseURL)
	}
	if c.BookingRushHolds != 300 {
		t.Errorf("rush holds %d, want 300", c.BookingRushHolds)
	}
	if off, err := Load(envOf(map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "0"})); err != nil || off.BookingRushHolds != 0 {
		t.Errorf("PORTAL_BOOKING_RUSH_HOLDS=0: %d, %v", off.BookingRushHolds, err)
	}
	if c.Demo || c.Production() {
		t.Error("demo and production must be off by default")
	}
	if !c.SecureCookies() {
		t.Error("localhost is a secure context: cookies should be Secure")
	}
	if !c.TURN() || c.TURNPort != 0 || c.TURNPublicIP != nil {
		t.Errorf("development runs TURN on free loopback ports: on %v, port %d, public IP %v", c.TURN(), c.TURNPort, c.TURNPublicIP)
	}
}

func TestProductionRunsTURNOnlyWhenAsked(t *testing.T) {
	env := map[string]string{
		"PORTAL_ENV": "production", "PORTAL_BASE_URL": "https://portal.example", "DATABASE_URL": "postgres://db/portal",
		"SMTP_URL": "smtp://relay.example:587", "PORTAL_SECRET_KEY": strings.Repeat("s", 40), "PORTAL_ENCRYPTION_KEY": validKey,
	}
	c, err := Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.TURN() {
		t.Error("production without PORTAL_TURN_PORT runs TURN")
	}
	env["PORTAL_TURN_PORT"] = "3478"
	if _, err := Load(envOf(env)); err == nil || !strings.Contains(err.Error(), "PORTAL_TURN_PUBLIC_IP") {
		t.Errorf("a TURN port without a public address: err = %v", err)
	}
}

func TestLoadProductionNamesEveryMissingVariable(t *testing.T) {
	_, err := Load(envOf(map[string]string{"PORTAL_ENV": "production", "PORTAL_BASE_URL": "https://portal.example"}))
	if err == nil {
		t.Fatal("production without secrets must not load")
	}
	for _, name := range []string{"DATABASE_URL", "SMTP_URL", "PORTAL_SECRET_KEY", "PORTAL_ENCRYPTION_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("message does not name %s:\n%s", name, err)
		}
	}
	if n := strings.Count(err.Error(), "\n"); n != 1 {
		t.Errorf("want one problem line listing all four, got %d lines:\n%s", n, err)
	}
}

func TestLoadProductionComplete(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"PORTAL_ENV":              "production",
		"PORTAL_BASE_URL":         "https://portal.example/",
		"DATABASE_URL":            "postgres://portal@db/portal",
		"SMTP_URL":                "smtp://relay.example:587",
		"PORTAL_SECRET_KEY":       strings.Repeat("s", 40),
		"PORTAL_ENCRYPTION_KEY":   validKey,
		"PORTAL_TRUSTED_PROXIES":  "10.0.0.0/8, 192.168.1.7",
		"PORTAL_CLAMD":            "tcp:clamav.intern:3310",
		"PORTAL_VIDEO_UDP_PORT":   "50000",
		"PORTAL_VIDEO_PUBLIC_IP":  "2001:db8::7, 203.0.113.7",
		"PORTAL_VIDEO_MAX_KBPS":   "1200",
		"PORTAL_TURN_PORT":        "3478",
		"PORTAL_TURN_RELAY_PORTS": "49152-49999",
		"PORTAL_ICE_SERVERS":      "stun:stun.example:3478, turns:turn.example:443?transport=tcp",
		"PORTAL_NODE_URL":         "http://10.0.0.5:8080/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Production() || len(c.EncryptionKey) != 32 || c.BaseURL.String() != "https://portal.example" {
		t.Errorf("%+v", c)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.168.1.7/32" {
		t.Errorf("trusted proxies %v", c.TrustedProxies)
	}
	if c.Clamd != "tcp:clamav.intern:3310" {
		t.Errorf("clamd %q", c.Clamd)
	}
	if !c.TURN() || c.TURNPort != 3478 || !c.TURNPublicIP.Equal(net.ParseIP("203.0.113.7")) || c.TURNRelayPortMin != 49152 || c.TURNRelayPortMax != 49999 {
		t.Errorf("TURN: on %v, port %d, public IP %v (want the video's IPv4 one), relays %d-%d", c.TURN(), c.TURNPort, c.TURNPublicIP, c.TURNRelayPortMin, c.TURNRelayPortMax)
	}
	if c.NodeURL == nil || c.NodeURL.String() != "http://10.0.0.5:8080" {
		t.Errorf("node URL %v", c.NodeURL)
	}
	if len(c.ICEServers) != 2 || c.ICEServers[1] != "turns:turn.example:443?transport=tcp" {
		t.Errorf("ICE servers %q", c.ICEServers)
	}
	if c.VideoUDPPort != 50000 || c.VideoTCPPort != 0 || len(c.VideoPublicIPs) != 2 || c.VideoPublicIPs[0] != "2001:db8::7" || c.VideoMaxKbps != 1200 {
		t.Errorf("video media: udp %d, tcp %d, public %v, max %d kbit/s", c.VideoUDPPort, c.VideoTCPPort, c.VideoPublicIPs, c.VideoMaxKbps)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown env", map[string]string{"PORTAL_ENV": "staging"}, "PORTAL_ENV"},
		{"addr without port", map[string]string{"PORTAL_ADDR": "localhost"}, "PORTAL_ADDR"},
		{"relative base url", map[string]string{"PORTAL_BASE_URL": "/portal"}, "PORTAL_BASE_URL"},
		{"http base url in production", map[string]string{"PORTAL_ENV": "production", "PORTAL_BASE_URL": "http://portal.example"}, "https"},
		{"short secret", map[string]string{"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY"},
		{"encryption key not base64", map[string]string{"PORTAL_ENCRYPTION_KEY": "not base64 !"}, "PORTAL_ENCRYPTION_KEY"},
		{"encryption key too short", map[string]string{"PORTAL_ENCRYPTION_KEY": "c2hvcnQ="}, "32 bytes"},
		{"smtp scheme", map[string]string{"SMTP_URL": "http://mail.example"}, "SMTP_URL"},
		{"mail from", map[string]string{"MAIL_FROM": "portal"}, "MAIL_FROM"},
		{"demo flag", map[string]string{"PORTAL_DEMO": "maybe"}, "PORTAL_DEMO"},
		{"proxy", map[string]string{"PORTAL_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "proxy.local"},
		{"metrics network", map[string]string{"PORTAL_METRICS_ALLOW": "10.1.0.0/16,prometheus"}, "PORTAL_METRICS_ALLOW"},
		{"connection limit", map[string]string{"PORTAL_MAX_CONNS": "0"}, "PORTAL_MAX_CONNS"},
		{"connection limit per client", map[string]string{"PORTAL_MAX_CONNS_PER_CLIENT": "many"}, "PORTAL_MAX_CONNS_PER_CLIENT"},
		// Without PORTAL_ENV the portal runs in development mode, with the
		// development mailbox: never on the network by accident.
		{"all interfaces without PORTAL_ENV", map[string]string{"PORTAL_ADDR": "0.0.0.0:8080"}, "not a loopback address"},
		{"no host without PORTAL_ENV", map[string]string{"PORTAL_ADDR": ":8080"}, "not a loopback address"},
		{"a network address without PORTAL_ENV", map[string]string{"PORTAL_ADDR": "192.168.1.10:8080"}, "PORTAL_ENV=development"},
		{"video port out of range", map[string]string{"PORTAL_VIDEO_UDP_PORT": "70000"}, "PORTAL_VIDEO_UDP_PORT"},
		{"video tcp port not a number", map[string]string{"PORTAL_VIDEO_TCP_PORT": "http"}, "PORTAL_VIDEO_TCP_PORT"},
		{"video public ip", map[string]string{"PORTAL_VIDEO_PUBLIC_IP": "portal.example"}, "PORTAL_VIDEO_PUBLIC_IP"},
		{"video bitrate too low", map[string]string{"PORTAL_VIDEO_MAX_KBPS": "100"}, "between 300 and 20000"},
		{"bookings per address too many", map[string]string{"PORTAL_BOOKING_PER_ADDRESS": "51"}, "between 1 and 50"},
		{"bookings per address none", map[string]string{"PORTAL_BOOKING_PER_ADDRESS": "0"}, "PORTAL_BOOKING_PER_ADDRESS"},
		{"rush holds negative", map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "-1"}, "PORTAL_BOOKING_RUSH_HOLDS"},
		{"rush holds too many", map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "100001"}, "between 0 (off) and 100000"},
		{"rush holds not a number", map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "viele"}, "PORTAL_BOOKING_RUSH_HOLDS"},
		{"video bitrate not a number", map[string]string{"PORTAL_VIDEO_MAX_KBPS": "fast"}, "PORTAL_VIDEO_MAX_KBPS"},
		{"turn port", map[string]string{"PORTAL_TURN_PORT": "-1"}, "PORTAL_TURN_PORT"},
		{"turn public ip", map[string]string{"PORTAL_TURN_PUBLIC_IP": "0.0.0.0"}, "PORTAL_TURN_PUBLIC_IP"},
		{"turn tls without files", map[string]string{"PORTAL_TURN_TLS_PORT": "5349"}, "go together"},
		{"turn tls without host", map[string]string{"PORTAL_TURN_TLS_PORT": "5349", "PORTAL_TURN_TLS_CERT_FILE": "/etc/c.pem", "PORTAL_TURN_TLS_KEY_FILE": "/etc/k.pem"}, "PORTAL_TURN_HOST"},
		{"turn tls file without port", map[string]string{"PORTAL_TURN_TLS_CERT_FILE": "/etc/c.pem", "PORTAL_TURN_TLS_KEY_FILE": "/etc/k.pem"}, "go together"},
		{"turn relay ports reversed", map[string]string{"PORTAL_TURN_RELAY_PORTS": "50000-40000"}, "PORTAL_TURN_RELAY_PORTS"},
		{"turn relay ports one", map[string]string{"PORTAL_TURN_RELAY_PORTS": "50000"}, "PORTAL_TURN_RELAY_PORTS"},
		{"turn secret short", map[string]string{"PORTAL_TURN_SECRET": "short"}, "PORTAL_TURN_SECRET"},
		{"ice server scheme", map[string]string{"PORTAL_ICE_SERVERS": "https://turn.example"}, "PORTAL_ICE_SERVERS"},
		{"ice server empty", map[string]string{"PORTAL_ICE_SERVERS": "stun:"}, "PORTAL_ICE_SERVERS"},
		{"node url with path", map[string]string{"PORTAL_NODE_URL": "http://10.0.0.5:8080/portal"}, "PORTAL_NODE_URL"},
		{"node url relative", map[string]string{"PORTAL_NODE_URL": "10.0.0.5:8080"}, "PORTAL_NODE_URL"},
		{"clamd without network", map[string]string{"PORTAL_CLAMD": "/run/clamav/clamd.ctl"}, "PORTAL_CLAMD"},
		{"clamd relative socket", map[string]string{"PORTAL_CLAMD": "unix:clamd.ctl"}, "PORTAL_CLAMD"},
		{"clamd without port", map[string]string{"PORTAL_CLAMD": "tcp:clamav.intern"}, "PORTAL_CLAMD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestListenAddressOfDevelopmentMode(t *testing.T) {
	for env, want := range map[[2]string]bool{
		{"", "127.0.0.1:8080"}:               true,
		{"", "[::1]:8080"}:                   true,
		{"", "localhost:8080"}:               true,
		{"", "0.0.0.0:8080"}:                 false,
		{"development", "0.0.0.0:8080"}:      true, // on purpose
		{"development", "192.168.1.10:8080"}: true,
		{"production", "0.0.0.0:8080"}:       true,
	} {
		vars := map[string]string{"PORTAL_ENV": env[0], "PORTAL_ADDR": env[1]}
		if env[0] == "production" {
			vars["DATABASE_URL"], vars["SMTP_URL"], vars["PORTAL_BASE_URL"] = "postgres://x", "smtp://x:25", "https://portal.example"
			vars["PORTAL_SECRET_KEY"], vars["PORTAL_ENCRYPTION_KEY"] = strings.Repeat("s", 32), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		}
		_, err := Load(envOf(vars))
		if (err == nil) != want {
			t.Errorf("PORTAL_ENV=%q PORTAL_ADDR=%q: err %v", env[0], env[1], err)
		}
	}
}

func TestSecureCookies(t *testing.T) {
	for base, want := range map[string]bool{
		"https://portal.example":    true,
		"http://localhost:8080":     true,
		"http://127.0.0.1:8080":     true,
		"http://[::1]:8080":         true,
		"http://portal.intern:8080": false,
	} {
		c, err := Load(envOf(map[string]string{"PORTAL_BASE_URL": base}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.SecureCookies(); got != want {
			t.Errorf("%s: SecureCookies() = %v, want %v", base, got, want)
		}
	}
}

func TestDevelopmentSecretsAreGeneratedOnceWithMode0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var")
	c, err := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	generated, err := c.LoadOrCreateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) != 2 || len(c.EncryptionKey) != 32 || len(c.SecretKey) < 32 {
		t.Fatalf("generated %v, keys %d/%d bytes", generated, len(c.SecretKey), len(c.EncryptionKey))
	}
	for _, f := range []string{"secret.key", "encryption.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	again, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	generated, err = again.LoadOrCreateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) != 0 || !bytes.Equal(again.SecretKey, c.SecretKey) || !bytes.Equal(again.EncryptionKey, c.EncryptionKey) {
		t.Error("a restart must reuse the stored secrets")
	}
}

func TestBrokenSecretFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	if _, err := c.LoadOrCreateSecrets(); err == nil || !strings.Contains(err.Error(), "secret.key") {
		t.Errorf("an empty secret.key was accepted: %v", err)
	}
}

func TestGivenSecretsAreNotReplaced(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir, "PORTAL_SECRET_KEY": strings.Repeat("k", 32), "PORTAL_ENCRYPTION_KEY": validKey}))
	if err != nil {
		t.Fatal(err)
	}
	generated, err := c.LoadOrCreateSecrets()
	if err != nil || len(generated) != 0 || string(c.SecretKey) != strings.Repeat("k", 32) {
		t.Errorf("generated %v, err %v", generated, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !os.IsNotExist(err) {
		t.Error("no key file should be written when both keys are given")
	}
}

func TestExistingSecretsAreReadButNeverCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var")
	c, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	if err := c.LoadExistingSecrets(); err != nil {
		t.Fatal(err)
	}
	if c.SecretKey != nil || c.EncryptionKey != nil {
		t.Errorf("keys out of nothing: %d/%d bytes", len(c.SecretKey), len(c.EncryptionKey))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data directory was created: %v", err)
	}

	made, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	if _, err := made.LoadOrCreateSecrets(); err != nil {
		t.Fatal(err)
	}
	read, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	if err := read.LoadExistingSecrets(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read.SecretKey, made.SecretKey) || !bytes.Equal(read.EncryptionKey, made.EncryptionKey) {
		t.Error("the stored keys were not read")
	}

	given, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir, "PORTAL_ENCRYPTION_KEY": validKey}))
	if err := given.LoadExistingSecrets(); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(given.EncryptionKey, made.EncryptionKey) {
		t.Error("a given key was replaced by the stored one")
	}

	if err := os.WriteFile(filepath.Join(dir, "encryption.key"), []byte("kurz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken, _ := Load(envOf(map[string]string{"PORTAL_DATA_DIR": dir}))
	if err := broken.LoadExistingSecrets(); err == nil || !strings.Contains(err.Error(), "encryption.key") {
		t.Errorf("a malformed encryption.key was accepted: %v", err)
	}
}
