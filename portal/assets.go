package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/bits"
	"mime"
	"path"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/gofiber/fiber/v2"
)

// asset is a static file held in memory with its compressed forms, made
// once, at the first request (encoded).
type asset struct {
	body, gzip, brotli []byte
	contentType        string
	once               sync.Once
}

// assets are the static files under content-hashed names
// (site.css → /static/site.3f2a9c1d0b7e.css): the name changes whenever the
// content does, so browsers may cache them for a year.
type assets struct {
	byURL  map[string]*asset // "/static/site.3f2a9c1d0b7e.css"
	byName map[string]string // "site.css" → its URL
}

func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{byURL: make(map[string]*asset), byName: make(map[string]string)}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(name, ".go") {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		url := "/static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.byURL[url] = &asset{body: body, contentType: ct}
		a.byName[name] = url
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("portal: static files: %w", err)
	}
	return a, nil
}

// url returns the hashed URL of a static file; templates call it as
// {{asset "site.css"}}. An unknown name makes rendering fail with an error
// (a 500 and a log line), never a broken link; the HTTP tests render every
// page, so it shows up there first.
func (a *assets) url(name string) (string, error) {
	u, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return u, nil
}

// serve answers GET /static/*: the best encoding the client accepts,
// cached for a year (the URL changes with the content).
func (a *assets) serve(c *fiber.Ctx) error {
	as, ok := a.byURL[c.Path()]
	if !ok {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderContentType, as.contentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	if c.Method() == fiber.MethodHead {
		c.Set(fiber.HeaderContentLength, fmt.Sprint(len(as.body)))
		return nil
	}
	gz, br := as.encoded()
	return sendEncoded(c, as.body, gz, br)
}

// encoded returns the asset's gzip and brotli forms, made at the first
// request that wants them rather than at start: the best compressions
// cost most of a second for the scripts of the video call, which a
// starting process need not wait for. Content not worth compressing, or
// whose compression fails, has none (it is sent as it is).
func (as *asset) encoded() (gz, br []byte) {
	as.once.Do(func() {
		if !compressible(as.contentType) {
			return
		}
		g, err := gzipped(as.body)
		if err != nil {
			return
		}
		b, err := brotlied(as.body, brotli.BestCompression)
		if err != nil {
			return
		}
		as.gzip, as.brotli = g, b
	})
	return as.gzip, as.brotli
}

// sendEncoded sends body, or its precompressed form that the client
// accepts (brotli first); gz and br are nil for content not worth
// compressing.
func sendEncoded(c *fiber.Ctx, body, gz, br []byte) error {
	if gz == nil {
		return c.Send(body)
	}
	c.Vary(fiber.HeaderAcceptEncoding)
	ae := c.Get(fiber.HeaderAcceptEncoding)
	switch {
	case br != nil && acceptsEncoding(ae, "br"):
		c.Set(fiber.HeaderContentEncoding, "br")
		return c.Send(br)
	case acceptsEncoding(ae, "gzip"):
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(gz)
	}
	return c.Send(body)
}

func compressible(contentType string) bool {
	return strings.HasPrefix(contentType, "text/") || strings.Contains(contentType, "javascript") ||
		strings.Contains(contentType, "svg") || strings.Contains(contentType, "json")
}

func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// brotlied compresses b at level with a window just large enough for b: at
// the best level the encoder's match finder takes eight bytes per window
// byte, 32 MB at the default window, which the process then keeps.
func brotlied(b []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: level, LGWin: min(max(bits.Len(uint(len(b))), 10), 22)})
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
