package portal

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the request counters and latencies by route pattern (a
// bounded set of labels: never raw paths).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_http_requests_total",
			Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) observe(method, route string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}

// registerCacheMetrics publishes the sizes of what the portal holds for
// many requests: the page caches' entries and the spool's bytes.
func (s *Server) registerCacheMetrics(reg *prometheus.Registry) {
	entries := func(cache string, n func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portal_page_cache_entries", Help: "Rendered pages kept, by cache.", ConstLabels: prometheus.Labels{"cache": cache},
		}, func() float64 { return float64(n()) })
	}
	reg.MustRegister(
		entries("shared", func() int { s.shared.mu.RLock(); defer s.shared.mu.RUnlock(); return len(s.shared.pages) }),
		entries("spliced", func() int { s.spliced.mu.RLock(); defer s.spliced.mu.RUnlock(); return len(s.spliced.pages) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portal_upload_spool_bytes", Help: "Bytes of uploaded files of posts in flight.",
		}, func() float64 { return float64(s.spool.InUse()) }),
	)
}
