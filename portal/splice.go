package portal

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/office"
)

// csrfPlaceholder stands in for the CSRF token while a spliced page is
// rendered; it cannot occur in a real token (base64url of 48 bytes).
const csrfPlaceholder = "CSRF-PLACEHOLDER-7f3a9c"

// splicedPage is a page that is the same for every new visitor except for
// the CSRF token of its form: the first view of a form step, a booking
// week. It is kept as the text before and after the token, each deflated
// and checksummed once, so answering costs a copy and the CRC of the token
// instead of a render and a compression. A gzip
// stream may consist of several deflate blocks: the prefix ends with a sync
// flush (byte-aligned, not final), the token travels as a stored block, and
// the suffix's blocks end the stream.
type splicedPage struct {
	snap             *office.Snapshot
	day              string
	prefix, suffix   []byte
	zPrefix, zSuffix []byte
	crcPrefix        uint32
	crcSuffix        uint32
	shift            crcShift // over the suffix
}

type splicedPages struct {
	mu    sync.RWMutex
	pages map[string]*splicedPage
}

func newSplicedPage(snap *office.Snapshot, day string, body []byte) (*splicedPage, bool) {
	i := bytes.Index(body, []byte(csrfPlaceholder))
	if i < 0 || bytes.Count(body, []byte(csrfPlaceholder)) != 1 {
		return nil, false
	}
	p := &splicedPage{snap: snap, day: day, prefix: body[:i], suffix: body[i+len(csrfPlaceholder):]}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(p.prefix)
	_ = w.Flush() // sync flush: byte-aligned, no final block
	p.zPrefix = bytes.Clone(buf.Bytes())
	buf.Reset()
	w.Reset(&buf)
	_, _ = w.Write(p.suffix)
	_ = w.Close()
	p.zSuffix = bytes.Clone(buf.Bytes())
	p.crcPrefix, p.crcSuffix = crc32.ChecksumIEEE(p.prefix), crc32.ChecksumIEEE(p.suffix)
	p.shift = newCRCShift(len(p.suffix))
	return p, true
}

// gzipHeader is a minimal gzip member header: no name, no time, OS unknown.
var gzipHeader = [10]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// send answers with the page and token, gzip-compressed when the client
// takes it. The parts are appended to the response's own body buffer,
// which fasthttp pools: a page the size of a booking week, sent tens of
// thousands of times a second, allocates nothing per answer, and its
// CRC costs the token's bytes only (crcShift).
func (p *splicedPage) send(c *fiber.Ctx, token string) error {
	c.Vary(fiber.HeaderAcceptEncoding)
	res := c.Response()
	res.ResetBody()
	if !acceptsEncoding(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		res.AppendBody(p.prefix)
		res.AppendBodyString(token)
		res.AppendBody(p.suffix)
		return nil
	}
	res.AppendBody(gzipHeader[:])
	res.AppendBody(p.zPrefix)
	// A stored block: BFINAL=0, BTYPE=00, then LEN and its complement.
	var stored [5]byte
	binary.LittleEndian.PutUint16(stored[1:], uint16(len(token)))
	binary.LittleEndian.PutUint16(stored[3:], ^uint16(len(token)))
	res.AppendBody(stored[:])
	res.AppendBodyString(token)
	res.AppendBody(p.zSuffix)
	var tb [96]byte // the token's bytes, without an allocation
	crc := p.shift.combine(crc32.Update(p.crcPrefix, crc32.IEEETable, append(tb[:0], token...)), p.crcSuffix)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(len(p.prefix)+len(token)+len(p.suffix)))
	res.AppendBody(trailer[:])
	c.Set(fiber.HeaderContentEncoding, "gzip")
	return nil
}

// splicedFresh reports whether the spliced page of key is kept for
// version (with any directory snapshot; for pages that depend on none).
func (s *Server) splicedFresh(key, version string) bool {
	s.spliced.mu.RLock()
	defer s.spliced.mu.RUnlock()
	p, ok := s.spliced.pages[key]
	return ok && p.day == version
}

// renderSpliced answers with page name for a new visitor, rendered by
// build with the placeholder token, from the cache when possible: the
// entry of key is rebuilt when the directory snapshot or the day changed.
// It reports false when the page cannot be spliced, or is not kept and
// build is nil (then render it normally).
func (s *Server) renderSpliced(c *fiber.Ctx, snap *office.Snapshot, day, key string, build func() (string, any)) (bool, error) {
	s.spliced.mu.RLock()
	p, ok := s.spliced.pages[key]
	s.spliced.mu.RUnlock()
	if !ok || p.snap != snap || p.day != day {
		if build == nil { // the caller only wants what is kept
			return false, nil
		}
		var err error
		if p, ok, err = s.keepSpliced(snap, day, key, build); !ok || err != nil {
			return false, err
		}
	}
	token := s.csrf.token(c)
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return true, p.send(c, token)
}

// keepSpliced renders page name as build gives it, with the placeholder
// token, and keeps it as the spliced page of key for snap and day. It
// reports false when the page cannot be spliced.
func (s *Server) keepSpliced(snap *office.Snapshot, day, key string, build func() (string, any)) (*splicedPage, bool, error) {
	name, data := build()
	var buf bytes.Buffer
	if err := s.views.execute(&buf, name, data); err != nil {
		return nil, false, err
	}
	p, ok := newSplicedPage(snap, day, buf.Bytes())
	if !ok {
		return nil, false, nil
	}
	s.spliced.mu.Lock()
	makeRoom(s.spliced.pages, key)
	s.spliced.pages[key] = p
	s.spliced.mu.Unlock()
	return p, true, nil
}
