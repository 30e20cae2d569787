package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"net/url"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// msgCSRF is shown when a state-changing request fails the CSRF check.
const msgCSRF = "error.csrf"

// csrfGuard protects every state-changing request (all methods but GET,
// HEAD and OPTIONS) outside /api/ with two independent checks:
//
//  1. Fetch metadata: a browser's Sec-Fetch-Site must say same-origin (or
//     none: typed by the person); where it is missing, an Origin header
//     must match our own origin.
//  2. A signed double-submit token: a random value in an HttpOnly cookie,
//     and in each form a token = nonce || HMAC(secret, cookie || nonce).
//     A fresh nonce per page keeps the token from being a fixed string
//     (BREACH), and the HMAC means nothing is stored on the server, so any
//     portal process can check any token.
//
// fiber's csrf middleware is not used: for https requests it requires a
// Referer header, which browsers never send under our Referrer-Policy
// no-referrer (tokens live in paths), and it keeps tokens in server storage.
type csrfGuard struct {
	key    []byte
	cookie string
	secure bool
	origin string    // scheme://host of PORTAL_BASE_URL
	macs   sync.Pool // of HMAC-SHA256 keyed with key: keying costs two hash blocks and allocations
}

func newCSRFGuard(cfg config.Config) *csrfGuard {
	g := &csrfGuard{key: cfg.SecretKey, cookie: "csrf", secure: cfg.SecureCookies()}
	if g.secure {
		g.cookie = "__Host-csrf"
	}
	g.origin = (&url.URL{Scheme: cfg.BaseURL.Scheme, Host: cfg.BaseURL.Host}).String()
	return g
}

const csrfNonceLen = 16

// token returns a token for the forms of the page being rendered, setting
// the CSRF cookie first if the browser has none.
func (g *csrfGuard) token(c *fiber.Ctx) string {
	secret := c.Cookies(g.cookie)
	if len(secret) != 43 { // 32 bytes, unpadded base64url
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = base64.RawURLEncoding.EncodeToString(b)
		c.Cookie(&fiber.Cookie{
			Name: g.cookie, Value: secret, Path: "/",
			Secure: g.secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
			SessionOnly: true,
		})
		// Later handlers of this request see the new cookie too.
		c.Request().Header.SetCookie(g.cookie, secret)
	}
	nonce := make([]byte, csrfNonceLen)
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(append(nonce, g.mac(secret, nonce)...))
}

func (g *csrfGuard) mac(secret string, nonce []byte) []byte {
	m, ok := g.macs.Get().(hash.Hash)
	if ok {
		m.Reset()
	} else {
		m = hmac.New(sha256.New, g.key)
	}
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(secret))
	m.Write(nonce)
	sum := m.Sum(nil)
	g.macs.Put(m)
	return sum
}

// valid reports whether token was made for the browser's cookie.
func (g *csrfGuard) valid(c *fiber.Ctx, token string) bool {
	secret := c.Cookies(g.cookie)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if secret == "" || err != nil || len(raw) != csrfNonceLen+sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(raw[csrfNonceLen:], g.mac(secret, raw[:csrfNonceLen])) == 1
}

// protect is the middleware.
func (g *csrfGuard) protect(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if strings.HasPrefix(c.Path(), "/api/") { // bearer tokens, no cookies
		return c.Next()
	}
	if !g.sameOrigin(c) {
		c.Locals(localRouteLabel, labelCSRF)
		return fault.New(fault.Forbidden, "csrf: cross-origin request", msgCSRF)
	}
	token := postValue(c, "_csrf")
	if token == "" {
		token = c.Get("X-CSRF-Token")
	}
	if !g.valid(c, token) {
		c.Locals(localRouteLabel, labelCSRF)
		return fault.New(fault.Forbidden, "csrf: missing or wrong token", msgCSRF)
	}
	return c.Next()
}

func (g *csrfGuard) sameOrigin(c *fiber.Ctx) bool {
	switch c.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default: // same-site, cross-site
		return false
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || origin == "null" { // older browsers; "null" under no-referrer
		return true // the token decides
	}
	return origin == g.origin || origin == c.Protocol()+"://"+c.Hostname()
}
