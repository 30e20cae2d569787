package portal_test

import (
	"net/http"
	"strings"
	"testing"
)

// /metrics and the development mailbox (which lists every citizen's
// status link) answer only local clients, and /metrics also the networks
// of PORTAL_METRICS_ALLOW. A request a proxy relays counts as remote,
// unless the proxy is trusted and the client behind it is local.
func TestOperatorPagesAnswerOnlyLocalClients(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/metrics", "/dev/mail"} {
		if res, b := h.local(path); res.StatusCode != http.StatusOK {
			t.Errorf("%s over loopback: status %d\n%s", path, res.StatusCode, excerpt(b))
		}
		if res, _ := h.get(path); res.StatusCode != http.StatusNotFound { // fiber's test connection comes from 0.0.0.0
			t.Errorf("%s from another address: status %d", path, res.StatusCode)
		}
		for _, header := range []string{"X-Forwarded-For", "Forwarded"} {
			if res, _ := h.local(path, header, "203.0.113.9"); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s relayed by an untrusted local proxy (%s): status %d", path, header, res.StatusCode)
			}
		}
	}
	if _, b := h.local("/metrics"); !strings.Contains(b, "portal_http_requests_total") || !strings.Contains(b, "portal_connections_open") {
		t.Error("metrics lack the request or connection counters")
	}

	// A trusted proxy relays what its client is.
	proxied := newHarness(t, map[string]string{"PORTAL_TRUSTED_PROXIES": "127.0.0.1", "PORTAL_METRICS_ALLOW": "10.20.0.0/16"})
	for client, want := range map[string]int{"203.0.113.9": 404, "10.20.3.4": 200} {
		if res, _ := proxied.local("/metrics", "X-Forwarded-For", client); res.StatusCode != want {
			t.Errorf("/metrics for %s behind a trusted proxy: status %d, want %d", client, res.StatusCode, want)
		}
	}
	// A trusted proxy that names no client says nothing of it.
	for _, header := range [][]string{nil, {"X-Forwarded-For", "garbage"}, {"Forwarded", "for=203.0.113.9"}} {
		if res, _ := proxied.local("/metrics", header...); res.StatusCode != http.StatusNotFound {
			t.Errorf("/metrics behind a trusted proxy with %v: status %d, want 404", header, res.StatusCode)
		}
	}
	if res, _ := proxied.local("/dev/mail", "X-Forwarded-For", "10.20.3.4"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/dev/mail for a metrics network: status %d", res.StatusCode)
	}
	// The allowed networks, for a client that is not local.
	allowAll := newHarness(t, map[string]string{"PORTAL_METRICS_ALLOW": "0.0.0.0/32"})
	if res, _ := allowAll.get("/metrics"); res.StatusCode != http.StatusOK {
		t.Errorf("/metrics from an allowed network: status %d", res.StatusCode)
	}
}
