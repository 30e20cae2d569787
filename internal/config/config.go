// Package config reads the portal's configuration from the environment once,
// validates all of it, and reports every problem in one message. The result is
// passed by value to the constructors that need it; nothing reads the
// environment anywhere else.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// Config is the validated configuration; README.md lists the variables.
type Config struct {
	Env         string   // development or production
	Addr        string   // PORTAL_ADDR, host:port
	BaseURL     *url.URL // PORTAL_BASE_URL, absolute, without trailing slash
	DatabaseURL string   // DATABASE_URL; empty: embedded PostgreSQL
	DataDir     string   // PORTAL_DATA_DIR
	PGBin       string   // PG_BIN: directory of the PostgreSQL server binaries (embedded mode)

	// SecretKey signs the CSRF tokens, derives the citizens' access tokens
	// and keys the rate and mail counters (HMACs, so no address is
	// stored); EncryptionKey (32 bytes) encrypts attachments at rest. In development both may be empty here and are then
	// generated into DataDir by LoadOrCreateSecrets.
	SecretKey     []byte
	EncryptionKey []byte

	SMTPURL  string // SMTP_URL; empty: development mailbox
	MailFrom string // MAIL_FROM
	// DKIMKeyFile (MAIL_DKIM_KEY_FILE) is a PEM private key (RSA or
	// Ed25519) that signs every mail for MAIL_FROM's domain, with the
	// selector DKIMSelector (MAIL_DKIM_SELECTOR, default "portal").
	DKIMKeyFile  string
	DKIMSelector string
	// JobsRescueAfter (PORTAL_JOBS_RESCUE_AFTER, a Go duration, default
	// 5m) is how long a job a dead process left running waits before it
	// runs again.
	JobsRescueAfter time.Duration

	Demo         bool   // PORTAL_DEMO
	DemoPassword string // PORTAL_DEMO_PASSWORD
	DemoTOTP     string // PORTAL_DEMO_TOTP

	// TrustedProxies (PORTAL_TRUSTED_PROXIES, comma-separated addresses or
	// CIDR prefixes) are the only peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	// MetricsAllow (PORTAL_METRICS_ALLOW, addresses or CIDR prefixes) may
	// read /metrics besides loopback.
	MetricsAllow []netip.Prefix

	// MaxConns (PORTAL_MAX_CONNS, default 4096) bounds the connections
	// open at once, MaxConnsPerClient (PORTAL_MAX_CONNS_PER_CLIENT,
	// default 256) those from one client address (IPv6: one /64);
	// trusted proxies count only towards MaxConns.
	MaxConns          int
	MaxConnsPerClient int

	// Clamd (PORTAL_CLAMD) is where ClamAV's daemon listens,
	// "unix:/path/to/socket" or "tcp:host:port"; every upload is scanned
	// there. Empty: no virus scan.
	Clamd string

	// Video consultations' media (internal/video/sfu). VideoUDPPort
	// (PORTAL_VIDEO_UDP_PORT) is the one UDP port of all calls' media; 0
	// (the default): a free port chosen at start, which suits one machine
	// but no firewall. VideoTCPPort (PORTAL_VIDEO_TCP_PORT, default 0:
	// none) takes ICE over TCP for networks that block UDP.
	// VideoPublicIPs (PORTAL_VIDEO_PUBLIC_IP, comma-separated) are the
	// addresses browsers reach the server at when it sits behind 1:1 NAT.
	// Development also offers loopback addresses, so two tabs on one
	// machine connect. VideoMaxKbps (PORTAL_VIDEO_MAX_KBPS, 300 to 20000,
	// default 2500) caps each camera's or screen's video in kbit/s: the
	// media server keeps browsers under it (and under what their
	// receivers' links take).
	VideoUDPPort   int
	VideoTCPPort   int
	VideoPublicIPs []string
	VideoMaxKbps   int

	// BookingPerAddress (PORTAL_BOOKING_PER_ADDRESS, 1 to 50, default 1)
	// is how many appointments of one service one e-mail address may
	// have at an office at once: unconfirmed, or booked and to come.
	BookingPerAddress int

	// BookingRushHolds (PORTAL_BOOKING_RUSH_HOLDS, 0 to 100000, default
	// 300) is how many holds a minute one service of an office takes
	// before its booking pages queue new visitors (rush mode,
	// docs/booking.md), who are then let in at BookingRushHolds/60 a
	// second; 0: never.
	BookingRushHolds int

	// TURN (internal/video/turn), for browsers whose network reaches the
	// media port neither over UDP nor over TCP. TURNPort
	// (PORTAL_TURN_PORT) serves TURN over UDP and TCP on one port number
	// (3478 is the standard one) on every interface, relaying from
	// TURNPublicIP (PORTAL_TURN_PUBLIC_IP; default: the first IPv4
	// address of PORTAL_VIDEO_PUBLIC_IP). 0, the default: in
	// development TURN on free ports on loopback, so a relayed call
	// between two tabs works; in production no TURN. TURNHost
	// (PORTAL_TURN_HOST) is the name in the turn: URLs browsers get
	// (default: the public IP; required with TLS: the certificate's
	// name).
	// TURNTLSPort with TURNTLSCertFile and TURNTLSKeyFile
	// (PORTAL_TURN_TLS_PORT, PORTAL_TURN_TLS_CERT_FILE,
	// PORTAL_TURN_TLS_KEY_FILE) add TURN over TLS, which passes
	// firewalls that let only TLS out (port 443 on an address of its
	// own). TURNRelayPortMin..Max (PORTAL_TURN_RELAY_PORTS, "49152-65535")
	// bound the relay sockets' ports for the firewall. TURNSecret
	// (PORTAL_TURN_SECRET) signs the short-lived TURN credentials; empty:
	// derived from the secret key, so a development portal needs
	// nothing and an external TURN server can share an explicit one.
	// ICEServers (PORTAL_ICE_SERVERS, comma-separated stun:, turn: and
	// turns: URLs) are further servers every browser gets; the turn: and
	// turns: ones with credentials signed by TURNSecret (the TURN REST
	// scheme that coturn's use-auth-secret understands).
	TURNPort                        int
	TURNPublicIP                    net.IP
	TURNHost                        string
	TURNTLSPort                     int
	TURNTLSCertFile, TURNTLSKeyFile string
	TURNRelayPortMin                int
	TURNRelayPortMax                int
	TURNSecret                      []byte
	ICEServers                      []string

	// NodeURL (PORTAL_NODE_URL) is where the other portal processes of
	// the installation reach this one (http://10.0.0.5:8080), for a
	// video call held here that a socket reached elsewhere; it names the
	// node in video_consultation.node. Empty (the default): one process,
	// every call here.
	NodeURL *url.URL
}

// TURN reports whether the portal runs its TURN server.
func (c Config) TURN() bool { return c.TURNPort != 0 || !c.Production() }

// Production reports whether the portal runs in production mode.
func (c Config) Production() bool { return c.Env == Production }

// SecureCookies reports whether cookies get the Secure attribute and the
// __Host- prefix: always over https, and on loopback hosts, which browsers
// treat as secure contexts even over plain http.
func (c Config) SecureCookies() bool {
	if c.BaseURL.Scheme == "https" {
		return true
	}
	host := c.BaseURL.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Load reads and validates the configuration. getenv is os.Getenv in
// production and a map lookup in tests. The returned error lists every
// problem found, one per line.
func Load(getenv func(string) string) (Config, error) {
	env := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	var problems []string
	c := Config{
		Env:          env("PORTAL_ENV", Development),
		Addr:         env("PORTAL_ADDR", "127.0.0.1:8080"),
		DatabaseURL:  env("DATABASE_URL", ""),
		DataDir:      env("PORTAL_DATA_DIR", "./var"),
		PGBin:        env("PG_BIN", ""),
		SMTPURL:      env("SMTP_URL", ""),
		MailFrom:     env("MAIL_FROM", "portal@localhost"),
		DKIMKeyFile:  env("MAIL_DKIM_KEY_FILE", ""),
		DKIMSelector: env("MAIL_DKIM_SELECTOR", "portal"),
		DemoPassword: strings.TrimSpace(getenv("PORTAL_DEMO_PASSWORD")),
		DemoTOTP:     env("PORTAL_DEMO_TOTP", ""),
	}

	if c.Env != Development && c.Env != Production {
		problems = append(problems, fmt.Sprintf("PORTAL_ENV must be %q or %q, not %q", Development, Production, c.Env))
	}
	if c.Env == Production {
		var missing []string
		for _, key := range []string{"DATABASE_URL", "SMTP_URL", "PORTAL_SECRET_KEY", "PORTAL_ENCRYPTION_KEY"} {
			if strings.TrimSpace(getenv(key)) == "" {
				missing = append(missing, key)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, "PORTAL_ENV=production needs "+strings.Join(missing, ", ")+" (missing)")
		}
	}

	if host, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		problems = append(problems, fmt.Sprintf("PORTAL_ADDR %q is not host:port", c.Addr))
	} else if strings.TrimSpace(getenv("PORTAL_ENV")) == "" && !loopback(host) {
		// Development mode publishes the development mailbox (every
		// citizen's status link) and generated keys: only on purpose.
		problems = append(problems, fmt.Sprintf("PORTAL_ADDR %q is not a loopback address: set PORTAL_ENV=production, "+
			"or PORTAL_ENV=development to serve a development portal (generated keys, mails kept in its database) to the network", c.Addr))
	}

	base, err := url.Parse(strings.TrimRight(env("PORTAL_BASE_URL", "http://localhost:8080"), "/"))
	switch {
	case err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https"):
		problems = append(problems, "PORTAL_BASE_URL must be an absolute http(s) URL")
		base = &url.URL{Scheme: "http", Host: "localhost:8080"}
	case c.Env == Production && base.Scheme != "https":
		problems = append(problems, "PORTAL_BASE_URL must use https in production")
	}
	c.BaseURL = base

	c.JobsRescueAfter = 5 * time.Minute
	if v := strings.TrimSpace(getenv("PORTAL_JOBS_RESCUE_AFTER")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			problems = append(problems, "PORTAL_JOBS_RESCUE_AFTER must be a duration of at least 1s, like 5m")
		} else {
			c.JobsRescueAfter = d
		}
	}

	if s := strings.TrimSpace(getenv("PORTAL_SECRET_KEY")); s != "" {
		if len(s) < 32 {
			problems = append(problems, "PORTAL_SECRET_KEY must be at least 32 characters (e.g. openssl rand -base64 32)")
		}
		c.SecretKey = []byte(s)
	}
	if s := strings.TrimSpace(getenv("PORTAL_ENCRYPTION_KEY")); s != "" {
		key, err := DecodeKey(s)
		if err != nil {
			problems = append(problems, "PORTAL_ENCRYPTION_KEY "+err.Error())
		}
		c.EncryptionKey = key
	}

	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			problems = append(problems, "SMTP_URL must look like smtp://[user:pass@]host:port or smtps://...")
		}
	}
	if !strings.Contains(c.MailFrom, "@") {
		problems = append(problems, "MAIL_FROM must be an e-mail address")
	}

	switch v := env("PORTAL_DEMO", "0"); v {
	case "1", "true", "yes":
		c.Demo = true
	case "0", "false", "no":
	default:
		problems = append(problems, fmt.Sprintf("PORTAL_DEMO must be 0 or 1, not %q", v))
	}

	c.TrustedProxies = prefixes(getenv, "PORTAL_TRUSTED_PROXIES", &problems)
	c.MetricsAllow = prefixes(getenv, "PORTAL_METRICS_ALLOW", &problems)
	c.MaxConns = count(getenv, "PORTAL_MAX_CONNS", 4096, &problems)
	c.MaxConnsPerClient = count(getenv, "PORTAL_MAX_CONNS_PER_CLIENT", 256, &problems)

	if c.Clamd = env("PORTAL_CLAMD", ""); c.Clamd != "" && !validClamd(c.Clamd) {
		problems = append(problems, fmt.Sprintf("PORTAL_CLAMD %q must be unix:/path/to/clamd.socket or tcp:host:port", c.Clamd))
	}

	c.VideoUDPPort = port(getenv, "PORTAL_VIDEO_UDP_PORT", &problems)
	c.VideoTCPPort = port(getenv, "PORTAL_VIDEO_TCP_PORT", &problems)
	if c.VideoMaxKbps = count(getenv, "PORTAL_VIDEO_MAX_KBPS", 2500, &problems); c.VideoMaxKbps < 300 || c.VideoMaxKbps > 20000 {
		problems = append(problems, fmt.Sprintf("PORTAL_VIDEO_MAX_KBPS must be between 300 and 20000 (kbit/s), not %d", c.VideoMaxKbps))
	}
	if c.BookingPerAddress = count(getenv, "PORTAL_BOOKING_PER_ADDRESS", 1, &problems); c.BookingPerAddress > 50 {
		problems = append(problems, fmt.Sprintf("PORTAL_BOOKING_PER_ADDRESS must be between 1 and 50, not %d", c.BookingPerAddress))
	}
	c.BookingRushHolds = 300
	if v := strings.TrimSpace(getenv("PORTAL_BOOKING_RUSH_HOLDS")); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 100000 {
			problems = append(problems, fmt.Sprintf("PORTAL_BOOKING_RUSH_HOLDS must be between 0 (off) and 100000 (holds a minute), not %q", v))
		} else {
			c.BookingRushHolds = n
		}
	}
	for _, ip := range strings.Split(getenv("PORTAL_VIDEO_PUBLIC_IP"), ",") {
		if ip = strings.TrimSpace(ip); ip == "" {
			continue
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			problems = append(problems, fmt.Sprintf("PORTAL_VIDEO_PUBLIC_IP: %q is not an IP address", ip))
			continue
		}
		c.VideoPublicIPs = append(c.VideoPublicIPs, ip)
	}

	turn(getenv, &c, &problems)
	if v := strings.TrimRight(strings.TrimSpace(getenv("PORTAL_NODE_URL")), "/"); v != "" {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.RawQuery != "" || u.User != nil {
			problems = append(problems, "PORTAL_NODE_URL must be an http(s) URL of this process without a path, like http://10.0.0.5:8080")
		} else {
			c.NodeURL = u
		}
	}

	if len(problems) > 0 {
		return c, errors.New("invalid configuration:\n  - " + strings.Join(problems, "\n  - "))
	}
	return c, nil
}

// turn reads the TURN settings into c; see Config.
func turn(getenv func(string) string, c *Config, problems *[]string) {
	add := func(format string, args ...any) { *problems = append(*problems, fmt.Sprintf(format, args...)) }
	c.TURNPort = port(getenv, "PORTAL_TURN_PORT", problems)
	c.TURNHost = strings.TrimSpace(getenv("PORTAL_TURN_HOST"))
	if v := strings.TrimSpace(getenv("PORTAL_TURN_PUBLIC_IP")); v != "" {
		if c.TURNPublicIP = net.ParseIP(v); c.TURNPublicIP == nil || c.TURNPublicIP.IsUnspecified() {
			add("PORTAL_TURN_PUBLIC_IP: %q is not an IP address a relay can have", v)
		}
	} else {
		for _, ip := range c.VideoPublicIPs {
			if a := net.ParseIP(ip); a.To4() != nil {
				c.TURNPublicIP = a
				break
			}
		}
	}
	if c.TURNPort != 0 && c.Production() && c.TURNPublicIP == nil {
		add("PORTAL_TURN_PORT needs the address relays are reached at: set PORTAL_TURN_PUBLIC_IP (or PORTAL_VIDEO_PUBLIC_IP)")
	}
	c.TURNTLSPort = port(getenv, "PORTAL_TURN_TLS_PORT", problems)
	c.TURNTLSCertFile = strings.TrimSpace(getenv("PORTAL_TURN_TLS_CERT_FILE"))
	c.TURNTLSKeyFile = strings.TrimSpace(getenv("PORTAL_TURN_TLS_KEY_FILE"))
	if (c.TURNTLSPort != 0) != (c.TURNTLSCertFile != "" && c.TURNTLSKeyFile != "") {
		add("PORTAL_TURN_TLS_PORT, PORTAL_TURN_TLS_CERT_FILE and PORTAL_TURN_TLS_KEY_FILE go together")
	}
	if c.TURNTLSPort != 0 && c.TURNHost == "" {
		add("PORTAL_TURN_TLS_PORT needs PORTAL_TURN_HOST, the name in the certificate")
	}
	if c.TURNTLSPort != 0 && !c.TURN() {
		add("PORTAL_TURN_TLS_PORT needs PORTAL_TURN_PORT")
	}
	if v := strings.TrimSpace(getenv("PORTAL_TURN_RELAY_PORTS")); v != "" {
		from, to, _ := strings.Cut(v, "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(from))
		hi, err2 := strconv.Atoi(strings.TrimSpace(to))
		if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
			add("PORTAL_TURN_RELAY_PORTS must be a port range like 49152-65535, not %q", v)
		} else {
			c.TURNRelayPortMin, c.TURNRelayPortMax = lo, hi
		}
	}
	if v := strings.TrimSpace(getenv("PORTAL_TURN_SECRET")); v != "" {
		if len(v) < 32 {
			add("PORTAL_TURN_SECRET must be at least 32 characters (e.g. openssl rand -base64 32)")
		}
		c.TURNSecret = []byte(v)
	}
	for _, u := range strings.Split(getenv("PORTAL_ICE_SERVERS"), ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		scheme, rest, _ := strings.Cut(u, ":")
		if (scheme != "stun" && scheme != "turn" && scheme != "turns") || rest == "" || strings.ContainsAny(rest, " \"\\") {
			add("PORTAL_ICE_SERVERS: %q is not a stun:, turn: or turns: URL", u)
			continue
		}
		c.ICEServers = append(c.ICEServers, u)
	}
}

// DecodeKey decodes a base64 (standard or URL alphabet, padded or not)
// 32-byte key.
func DecodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("must decode to 32 bytes, not %d", len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("must be base64 (e.g. openssl rand -base64 32)")
}

// prefixes reads the comma-separated addresses or CIDR prefixes of key.
func prefixes(getenv func(string) string, key string, problems *[]string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range strings.Split(getenv(key), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %q is neither an IP address nor a CIDR prefix", key, s))
			continue
		}
		out = append(out, p)
	}
	return out
}

// count reads a positive number of key, def when unset.
func count(getenv func(string) string, key string, def int, problems *[]string) int {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		*problems = append(*problems, fmt.Sprintf("%s must be a positive number, not %q", key, v))
		return def
	}
	return n
}

// port reads the port number of key: 0 (the default) or 1..65535.
func port(getenv func(string) string, key string, problems *[]string) int {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		*problems = append(*problems, fmt.Sprintf("%s must be a port number (0 to 65535), not %q", key, v))
		return 0
	}
	return n
}

// loopback reports whether a listen host is a loopback address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validClamd reports whether s names a clamd socket as internal/scan
// dials it: unix: and an absolute path, or tcp: and host:port.
func validClamd(s string) bool {
	network, addr, _ := strings.Cut(s, ":")
	switch network {
	case "unix":
		return strings.HasPrefix(addr, "/")
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		return err == nil && host != "" && port != ""
	}
	return false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
