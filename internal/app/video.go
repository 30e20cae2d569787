package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/turn"
)

// startMedia starts the calls' media (one UDP port for all of them) and,
// where cfg asks for it, the TURN server, and builds the hub on them. In
// development the media server also offers loopback addresses and TURN
// runs on free loopback ports relaying to loopback, so two tabs of one
// machine connect, directly or relayed, without any setting.
func (a *App) startMedia(cfg config.Config, log *slog.Logger) error {
	media, err := sfu.New(sfu.Config{
		UDPPort: cfg.VideoUDPPort, TCPPort: cfg.VideoTCPPort, PublicIPs: cfg.VideoPublicIPs, Loopback: !cfg.Production(),
		MaxBitrate: cfg.VideoMaxKbps * 1000,
	}, log)
	if err != nil {
		return fmt.Errorf("video media: %w", err)
	}
	a.Media = media
	a.closers = append(a.closers, func() { _ = media.Close() })

	secret := cfg.TURNSecret
	if len(secret) == 0 {
		// A key of its own, so that the TURN credentials (HMAC-SHA1, as
		// the TURN REST scheme has it) never use the secret key itself.
		mac := hmac.New(sha256.New, cfg.SecretKey)
		mac.Write([]byte("portal-turn"))
		secret = mac.Sum(nil)
	}
	var relay *turn.Server
	if cfg.TURN() {
		tc, err := turnConfig(cfg, secret, media.UDPAddr().Port)
		if err != nil {
			return err
		}
		if relay, err = turn.New(tc, log); err != nil {
			return fmt.Errorf("video TURN: %w", err)
		}
		a.TURN = relay
		a.closers = append(a.closers, func() { _ = relay.Close() })
	} else {
		log.Info("no TURN server: PORTAL_TURN_PORT is not set")
	}
	a.Hub = video.NewHub(a.Video, media, iceServers(relay, cfg.TURNHost, cfg.ICEServers, secret), log)
	return nil
}

// turnConfig is the TURN server's configuration from cfg: see
// config.Config's TURN fields. mediaPort is the media server's UDP port,
// which relays may always reach at the media's addresses.
func turnConfig(cfg config.Config, secret []byte, mediaPort int) (turn.Config, error) {
	tc := turn.Config{
		Secret:       secret,
		PublicIP:     cfg.TURNPublicIP,
		UDPPort:      cfg.TURNPort,
		TCPPort:      cfg.TURNPort,
		RelayPortMin: cfg.TURNRelayPortMin,
		RelayPortMax: cfg.TURNRelayPortMax,
		// Participants only ever reach the SFU, never each other.
		MediaOnly: true,
	}
	if cfg.TURNPublicIP == nil {
		// Development without a public address: TURN for this machine.
		tc.ListenIP = "127.0.0.1"
	}
	if tc.UDPPort == 0 {
		tc.UDPPort, tc.TCPPort = turn.AnyPort, turn.AnyPort
	}
	if !cfg.Production() {
		tc.AllowLoopback = true
	}
	if cfg.TURNTLSPort != 0 {
		cert, err := tls.LoadX509KeyPair(cfg.TURNTLSCertFile, cfg.TURNTLSKeyFile)
		if err != nil {
			return turn.Config{}, fmt.Errorf("video TURN: PORTAL_TURN_TLS_CERT_FILE and PORTAL_TURN_TLS_KEY_FILE: %w", err)
		}
		tc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		tc.TLSPort = cfg.TURNTLSPort
	}
	ips := cfg.VideoPublicIPs
	if len(ips) == 0 {
		// The media server then offers its interfaces' addresses.
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return turn.Config{}, fmt.Errorf("video TURN: the media's addresses: %w", err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ips = append(ips, n.IP.String())
			}
		}
	}
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() {
			tc.Media = append(tc.Media, netip.AddrPortFrom(ip.Unmap(), uint16(mediaPort)))
		}
	}
	return tc, nil
}

// iceServers returns the hub's ICE servers of one participant: relay's
// (nil: none) under host, and the further URLs of PORTAL_ICE_SERVERS,
// the turn: and turns: ones with credentials signed by secret. nil when
// there are none.
func iceServers(relay *turn.Server, host string, urls []string, secret []byte) func(user string) []video.ICEServer {
	if relay == nil && len(urls) == 0 {
		return nil
	}
	var stun, turns []string
	for _, u := range urls {
		if strings.HasPrefix(u, "stun:") {
			stun = append(stun, u)
		} else {
			turns = append(turns, u)
		}
	}
	return func(user string) []video.ICEServer {
		var out []video.ICEServer
		if relay != nil {
			for _, s := range relay.ICEServers(user, host) {
				out = append(out, video.ICEServer(s))
			}
		}
		if len(stun) > 0 {
			out = append(out, video.ICEServer{URLs: stun})
		}
		if len(turns) > 0 {
			name, pass := turn.Credentials(secret, user, turn.DefaultCredentialTTL, time.Now())
			out = append(out, video.ICEServer{URLs: turns, Username: name, Credential: pass})
		}
		return out
	}
}
