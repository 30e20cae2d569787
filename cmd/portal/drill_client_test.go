package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/forms"
)

// drillClient posts the storm's submits, like browsers do.
type drillClient struct {
	t                     *testing.T
	http                  *http.Client
	csrfCookie, csrfValue string
	csrfToken             string
	draftCookie           string

	mu                        sync.Mutex
	acked                     []string // tokens whose submit was answered with the receipt
	statuses                  map[int]int
	ackedN                    atomic.Int64
	posts, refused, status500 atomic.Int64
}

var drillCSRF = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func newDrillClient(t *testing.T, base string, n int) *drillClient {
	t.Helper()
	res, err := http.Get(base + "/fortsetzen")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	c := &drillClient{t: t, statuses: map[int]int{}, acked: make([]string, 0, n), draftCookie: "draft-leipzig-terminanfrage",
		http: &http.Client{
			Timeout:       30 * time.Second,
			Transport:     &http.Transport{MaxIdleConnsPerHost: 16},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	m := drillCSRF.FindSubmatch(b)
	for _, ck := range res.Cookies() {
		if strings.HasSuffix(ck.Name, "csrf") && m != nil {
			c.csrfCookie, c.csrfValue, c.csrfToken = ck.Name, ck.Value, string(m[1])
		}
	}
	if c.csrfToken == "" {
		t.Fatalf("no CSRF cookie and token from %s/fortsetzen", base)
	}
	if strings.HasPrefix(c.csrfCookie, "__Host-") {
		c.draftCookie = "__Host-" + c.draftCookie
	}
	return c
}

// storm submits every token, rate new ones a second from 16 connections,
// alternating between the processes; a submit that fails is posted again
// to the other one after a moment, until it is acknowledged (or five
// minutes have passed). The channel closes when it is over.
func (c *drillClient) storm(to []*drillInstance, tokens []string, rate int) <-chan struct{} {
	next := make(chan int)
	go func() {
		defer close(next)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := range tokens {
			<-tick.C
			next <- i
		}
	}()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				deadline := time.Now().Add(5 * time.Minute)
				for try := 0; !c.submit(to[(i+try)%len(to)], tokens[i]) && time.Now().Before(deadline); try++ {
					time.Sleep(300 * time.Millisecond)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// submit posts one submit and reports whether it was acknowledged.
func (c *drillClient) submit(in *drillInstance, token string) bool {
	body := url.Values{"_csrf": {c.csrfToken}, "consent": {forms.CheckboxOn}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, in.url()+"/amt/leipzig/leistungen/terminanfrage/antrag/absenden", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", c.csrfCookie+"="+c.csrfValue+"; "+c.draftCookie+"="+token)
	c.posts.Add(1)
	res, err := c.http.Do(req)
	if err != nil {
		c.refused.Add(1)
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/status/"):
		c.mu.Lock()
		c.acked = append(c.acked, token)
		c.mu.Unlock()
		c.ackedN.Add(1)
		return true
	case res.StatusCode == http.StatusInternalServerError:
		c.status500.Add(1)
	}
	c.mu.Lock()
	c.statuses[res.StatusCode]++
	c.mu.Unlock()
	return false
}

// waitAcked waits until n submits were acknowledged.
func (c *drillClient) waitAcked(n int) {
	for deadline := time.Now().Add(5 * time.Minute); c.ackedN.Load() < int64(n); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("only %d submits acknowledged, waiting for %d", c.ackedN.Load(), n)
		}
	}
}

func (c *drillClient) ackedTokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.acked)
}

// failedStatuses lists the statuses of failed submits.
func (c *drillClient) failedStatuses() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for code, n := range c.statuses {
		parts = append(parts, fmt.Sprintf("%d×%d", n, code))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "no other"
	}
	return strings.Join(parts, " ")
}

// readyzAnswers are the statuses /readyz gave, with their times.
type readyzAnswers []struct {
	at     time.Time
	status int
}

// readyzCount counts answers of a span.
type readyzCount struct{ ok, unavailable, other int }

func (c readyzCount) String() string {
	return fmt.Sprintf("200 %d times, 503 %d times, other or no answer %d times", c.ok, c.unavailable, c.other)
}

func (r readyzAnswers) between(from, to time.Time) readyzCount {
	var c readyzCount
	for _, a := range r {
		switch {
		case a.at.Before(from) || a.at.After(to):
		case a.status == http.StatusOK:
			c.ok++
		case a.status == http.StatusServiceUnavailable:
			c.unavailable++
		default:
			c.other++
		}
	}
	return c
}

// pollReadyz asks in's /readyz every 250 ms until stop closes, then
// sends what it got.
func pollReadyz(in *drillInstance, stop <-chan struct{}) <-chan readyzAnswers {
	out := make(chan readyzAnswers, 1)
	go func() {
		client := &http.Client{Timeout: 3 * time.Second}
		var answers readyzAnswers
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- answers
				return
			case <-tick.C:
			}
			at, status := time.Now(), 0
			if res, err := client.Get(in.url() + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				status = res.StatusCode
			}
			answers = append(answers, struct {
				at     time.Time
				status int
			}{at, status})
		}
	}()
	return out
}
