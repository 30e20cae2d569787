package portal

import (
	_ "embed"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/inbox"
)

const localToken = "api-token"

// requireToken admits a request with a live bearer token that carries
// scope. A missing, malformed, unknown or revoked token is 401 alike (with
// the WWW-Authenticate challenge); a good token without the scope is 403.
func (s *Server) requireToken(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h := c.Get(fiber.HeaderAuthorization)
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="api"`)
			return fiber.ErrUnauthorized
		}
		t, err := s.auth.AuthenticateToken(c.UserContext(), strings.TrimSpace(secret))
		if fault.KindOf(err) == fault.NotFound {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="api", error="invalid_token"`)
			return fiber.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		if !t.Has(scope) {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="api", error="insufficient_scope", scope="`+scope+`"`)
			return fiber.ErrForbidden
		}
		c.Locals(localToken, t)
		return c.Next()
	}
}

// tokenOf returns the request's token (set by requireToken).
func tokenOf(c *fiber.Ctx) auth.Token {
	t, _ := c.Locals(localToken).(auth.Token)
	return t
}

// tokenAccess is how the request's token works on cases (inbox.Access).
func tokenAccess(c *fiber.Ctx) inbox.Access { return inbox.TokenAccess(tokenOf(c)) }

//go:embed api_openapi.json
var openAPIDocument []byte

// showOpenAPI answers GET /api/v1/openapi.json: the API's description.
func (s *Server) showOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(openAPIDocument)
}
