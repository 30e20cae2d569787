package portal_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// rawRequest sends head (request line and headers, without the blank
// line) and body over a new connection and returns the response.
func rawRequest(t *testing.T, base, head string, payload []byte) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	go func() { // a refused body may be cut off while still being written
		_, _ = io.WriteString(conn, strings.ReplaceAll(strings.TrimSpace(head), "\n", "\r\n")+"\r\n\r\n")
		_, _ = conn.Write(payload)
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res, body(t, res)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// An encoded body is refused before anything decodes it: nothing in the
// portal takes one, and decompression is how a 1 MB post becomes a 1 GB
// one. The refusal is localized (JSON under /api/) and ends the
// connection, and nothing is stored.
func TestEncodedBodiesAreRefused(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	s := h.openFeedbackForm(t)
	feedback := []byte(url.Values{"_csrf": {s.token}, "message": {"Ein Hinweis."}}.Encode())
	c := h.citizen(t)
	c.get(gutachtenBase + "/anlass")
	step := []byte(url.Values{"_csrf": {c.token}, "reason": {"dienstfaehigkeit"}, "_action": {"next"}}.Encode())
	cookies := s.cookie
	for k, v := range c.cookies {
		cookies += "; " + k + "=" + v
	}
	tests := []struct {
		name, path, encoding, want string
		body                       []byte
	}{
		{"gzip to the feedback form", "/barrierefreiheit", "gzip", "Dieses Format wird nicht angenommen", gzipped(t, feedback)},
		{"gzip bomb to a form step", gutachtenBase + "/anlass", "gzip", "Dieses Format wird nicht angenommen", gzipped(t, append(step, bytes.Repeat([]byte("&x=0"), 1<<20)...))},
		{"deflate to a form step", gutachtenBase + "/anlass", "deflate", "Dieses Format wird nicht angenommen", step},
		{"identity, named", "/barrierefreiheit", "identity", "Dieses Format wird nicht angenommen", feedback},
		{"gzip to the API", "/api/v1/submissions/1/status", "gzip", `"code":"unsupported_media_type"`, gzipped(t, []byte(`{"status":"in_bearbeitung"}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, b := rawRequest(t, base, fmt.Sprintf(`POST %s HTTP/1.1
Host: localhost:8080
Content-Type: application/x-www-form-urlencoded
Content-Encoding: %s
Cookie: %s
Content-Length: %d`, tt.path, tt.encoding, cookies, len(tt.body)), tt.body)
			if res.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(b, tt.want) {
				t.Errorf("status %d, want 415 with %q\n%s", res.StatusCode, tt.want, excerpt(b))
			}
			if !res.Close {
				t.Error("the connection stays open after a refused body")
			}
		})
	}
	if n := h.feedbackCount(t); n != 0 {
		t.Errorf("%d feedback messages stored from encoded posts", n)
	}
	if n := h.count(t, "draft"); n != 0 {
		t.Errorf("%d drafts stored from encoded posts", n)
	}
}

// Limits hold whatever a body announces: chunked bodies have no length to
// check up front, a GET's body is bounded too, and a post with uploads is
// bounded in its parts.
func TestBodyLimitsWithoutALength(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	s := h.openFeedbackForm(t)
	big := url.Values{"_csrf": {s.token}, "message": {strings.Repeat("x", 40<<10)}}.Encode()
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)

	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	part, _ := w.CreatePart(map[string][]string{
		"Content-Disposition": {`form-data; name="_csrf"`},
		"X-Padding":           {strings.Repeat("p", 40<<10)}, // headers of a part are read into memory
	})
	_, _ = part.Write([]byte(s.token))
	_ = w.Close()

	tests := []struct {
		name, head string
		body       []byte
		status     int
	}{
		{"chunked text post over 32 KiB", "POST /barrierefreiheit HTTP/1.1\nHost: localhost:8080\nCookie: " + s.cookie +
			"\nContent-Type: application/x-www-form-urlencoded\nTransfer-Encoding: chunked", []byte(chunked), http.StatusRequestEntityTooLarge},
		{"a GET with a body over 32 KiB", "GET / HTTP/1.1\nHost: localhost:8080\nContent-Length: 40000", bytes.Repeat([]byte("x"), 40000), http.StatusRequestEntityTooLarge},
		{"a part's headers over 16 KiB", "POST " + gutachtenBase + "/auftrag HTTP/1.1\nHost: localhost:8080\nCookie: " + s.cookie +
			"\nContent-Type: " + w.FormDataContentType() + fmt.Sprintf("\nContent-Length: %d", mp.Len()), mp.Bytes(), http.StatusRequestEntityTooLarge},
		{"multipart to a text route over 32 KiB", "POST /barrierefreiheit HTTP/1.1\nHost: localhost:8080\nCookie: " + s.cookie +
			"\nContent-Type: " + w.FormDataContentType() + fmt.Sprintf("\nContent-Length: %d", mp.Len()), mp.Bytes(), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, b := rawRequest(t, base, tt.head, tt.body)
			if res.StatusCode != tt.status || !strings.Contains(b, "Die Anfrage ist zu groß") {
				t.Errorf("status %d, want %d\n%s", res.StatusCode, tt.status, excerpt(b))
			}
			if !res.Close {
				t.Error("the connection stays open after a refused body")
			}
		})
	}
	if n := h.feedbackCount(t); n != 0 {
		t.Errorf("%d feedback messages stored", n)
	}
}

// A file of a form step goes through the spool: taken and sealed into
// the draft, and nothing of it left behind on disk once the post is
// answered. The same connection then carries the next request.
func TestUploadsLeaveNothingInTheSpool(t *testing.T) {
	h := newHarness(t, nil)
	c := atUploadStep(t, h)

	base := h.listen()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mp, w := letterPost(c.token)
	var cookies []string
	for k, v := range c.cookies {
		cookies = append(cookies, k+"="+v)
	}
	rd := bufio.NewReader(conn)
	fmt.Fprintf(conn, "POST %s/auftrag HTTP/1.1\r\nHost: localhost:8080\r\nCookie: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		gutachtenBase, strings.Join(cookies, "; "), w.FormDataContentType(), mp.Len(), mp.String())
	res, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, res)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != gutachtenBase+"/gesundheit" {
		t.Fatalf("status %d, Location %q\n%s", res.StatusCode, res.Header.Get("Location"), excerpt(b))
	}
	if n := h.count(t, "draft_file"); n != 1 {
		t.Errorf("%d files stored, want 1", n)
	}
	if entries, _ := os.ReadDir(h.spool); len(entries) != 0 {
		t.Errorf("left in the spool: %v", entries)
	}
	// Its temporary file was unlinked when made; once the post is
	// answered it is closed too, and its bytes are given back.
	if n := openSpoolFiles(t); n != 0 {
		t.Errorf("%d spooled files still open", n)
	}
	if _, metrics := h.local("/metrics"); !strings.Contains(metrics, "portal_upload_spool_bytes 0\n") {
		t.Error("the spool still holds bytes of the answered post")
	}
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\n\r\n")
	res, err = http.ReadResponse(rd, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("next request on the same connection: %v %v", res, err)
	}
}

// A body nothing read never becomes the next request: fiber answers an
// unknown method before any middleware, and its connection then ends, so
// a request hidden in the body (here: for /metrics, which answers only
// local clients, as a proxy's would seem) is never served.
func TestUnreadBodiesEndTheirConnection(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	hidden := "GET /metrics HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
	body := strings.Repeat("x", 8192) + hidden
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "PROPFIND / HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = body2drain(res)
	if res.StatusCode < 400 || !res.Close {
		t.Errorf("unknown method: status %d, connection kept: %v", res.StatusCode, !res.Close)
	}
	if res, err := http.ReadResponse(rd, nil); err == nil {
		t.Errorf("the request hidden in the body was served: status %d", res.StatusCode)
	}
}

func body2drain(res *http.Response) error {
	_, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return err
}

// Only a multipart post to a form step or an answer takes more than a
// text post: a large urlencoded body to an upload route is refused from
// its length; the media type is read whatever its case.
func TestOnlyMultipartPostsTakeUploads(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	res, b := rawRequest(t, base, fmt.Sprintf("POST %s/auftrag HTTP/1.1\nHost: localhost:8080\nContent-Type: application/x-www-form-urlencoded\nContent-Length: %d",
		gutachtenBase, 8<<20), bytes.Repeat([]byte("a=1&"), 4096))
	if res.StatusCode != http.StatusRequestEntityTooLarge || !res.Close {
		t.Errorf("8 MiB urlencoded to a form step: status %d\n%s", res.StatusCode, excerpt(b))
	}

	c := atUploadStep(t, h)
	mp, w := letterPost(c.token)
	req := httptest.NewRequest(http.MethodPost, gutachtenBase+"/auftrag", mp)
	req.Header.Set("Content-Type", "Multipart/Form-Data; boundary="+w.Boundary())
	res, b = c.send(req)
	if res.StatusCode != http.StatusSeeOther || h.count(t, "draft_file") != 1 {
		t.Errorf("upload with Multipart/Form-Data: status %d, %d files\n%s", res.StatusCode, h.count(t, "draft_file"), excerpt(b))
	}
}

// A post cut short (the client went away before its Content-Length) is
// not a post: answered 400, nothing of it stored, even though its first
// fields, the CSRF token among them, arrived.
func TestCutOffPostsAreNotTaken(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	s := h.openFeedbackForm(t)
	form := url.Values{"_csrf": {s.token}, "message": {strings.Repeat("Ein langer Hinweis. ", 200)}}.Encode()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /barrierefreiheit HTTP/1.1\r\nHost: localhost:8080\r\nCookie: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		s.cookie, len(form)+2000, form)
	_ = conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = body2drain(res)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("a cut-off post: status %d, want 400", res.StatusCode)
	}
	if n := h.feedbackCount(t); n != 0 {
		t.Errorf("%d feedback messages stored from a cut-off post", n)
	}
}

// A client that asks before sending (Expect: 100-continue) learns that its
// body is too large before it sends it.
func TestExpectContinueIsAnsweredFromTheHeaders(t *testing.T) {
	h := newHarness(t, nil)
	base := h.listen()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /barrierefreiheit HTTP/1.1\r\nHost: localhost:8080\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", 1<<30)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = body2drain(res)
	if res.StatusCode != http.StatusExpectationFailed {
		t.Errorf("1 GiB announced with Expect: status %d, want 417", res.StatusCode)
	}
}

// openSpoolFiles counts this process's open files that are spooled
// uploads (unlinked: "portal-upload-… (deleted)").
func openSpoolFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.Contains(target, "portal-upload-") {
			n++
		}
	}
	return n
}

// atUploadStep returns a citizen at the step of the medical report that
// takes the request letter.
func atUploadStep(t *testing.T, h *harness) *citizen {
	t.Helper()
	c := h.citizen(t)
	c.get(gutachtenBase + "/anlass")
	res, _ := c.post(gutachtenBase+"/anlass", url.Values{"reason": {"dienstfaehigkeit"}, "file_number": {"P-12/2026"}, "_action": {"next"}})
	expectLocation(t, res, gutachtenBase+"/auftrag")
	c.get(gutachtenBase + "/auftrag")
	return c
}

// letterPost is that step's answers with a request letter, multipart.
func letterPost(token string) (*bytes.Buffer, *multipart.Writer) {
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	for k, v := range map[string]string{"_csrf": token, "authority": "Landesamt", "authority_contact": "Frau Beispiel", "_action": "next"} {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("request_letter", "auftrag.pdf")
	_, _ = fw.Write([]byte(minimalPDF))
	_ = w.Close()
	return &mp, w
}
