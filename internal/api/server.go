// Package api is yocho's HTTP server: the JSON API under /api/v1/, Prometheus metrics on /metrics,
// and the web UI on /. Each area's handlers are in a file of their own and are mounted by
// cmd/yocho, which wires the components they read from.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"yocho/web"
)

// Config is the HTTP server's configuration.
type Config struct {
	Listen string // host:port; empty disables the server
	// Token is the bearer token the API requires. It must be set when Listen is not loopback.
	Token string
	// CacheTTL is how long the answer of a flow query is reused for identical queries (same
	// parameters, relative times included as written); 0 means DefaultCacheTTL, a negative value
	// turns the cache off. Identical queries running at the same time always share one run.
	CacheTTL time.Duration
}

// Server serves the API, the metrics and the UI.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	log    *slog.Logger
	http   *http.Server
	ln     net.Listener
	served chan struct{}
	routes []string // every pattern given to Mount, in order: checked against the OpenAPI document
	cache  *queryCache
	m      metrics
}

// metrics are the server's own: how long each route takes, and what the query cache did.
type metrics struct {
	duration *prometheus.HistogramVec
	cache    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "yocho_api_request_duration_seconds",
			Help:    "Time from a request to its answer's headers, by route (the pattern served).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yocho_api_query_cache_requests_total",
			Help: "Flow queries by what the cache did: hit (a fresh earlier answer), shared (joined an identical running query), miss (ran), off (not cached).",
		}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.duration, m.cache} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err) // a programming error: two metrics of the same name and other labels
				}
			}
		}
	}
	return m
}

// New returns a server that serves metrics from gatherer. When gatherer is also a Registerer
// (a *prometheus.Registry), the server's own metrics are registered on it. It does no I/O.
func New(cfg Config, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	ttl := cfg.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	reg, _ := gatherer.(prometheus.Registerer)
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: log, cache: newQueryCache(ttl), m: newMetrics(reg)}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	s.mux.Handle("/", web.Handler())
	s.Mount("GET /api/v1/openapi.json", serveOpenAPI)
	return s
}

// Mount serves pattern (as http.ServeMux reads it, e.g. "GET /api/v1/exporters") with h, timed:
// the answer carries a Server-Timing header ("app;dur=MS", the time to its headers) that the
// browser shows, and yocho_api_request_duration_seconds counts it by route.
func (s *Server) Mount(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	obs := s.m.duration.WithLabelValues(pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		tw := &timedWriter{ResponseWriter: w, start: time.Now()}
		h(tw, r)
		tw.stamp()
		obs.Observe(tw.took.Seconds())
	})
}

// timedWriter adds the Server-Timing header just before the answer's headers go out.
type timedWriter struct {
	http.ResponseWriter
	start time.Time
	took  time.Duration
	sent  bool
}

func (w *timedWriter) stamp() {
	if w.sent {
		return
	}
	w.sent = true
	w.took = time.Since(w.start)
	w.Header().Add("Server-Timing", fmt.Sprintf("app;dur=%.1f", float64(w.took.Microseconds())/1000))
}

func (w *timedWriter) WriteHeader(code int) {
	w.stamp()
	w.ResponseWriter.WriteHeader(code)
}

func (w *timedWriter) Write(b []byte) (int, error) {
	w.stamp()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Routes lists the patterns given to Mount so far, in order.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// Handler is the server's whole handler, with authentication: what tests drive directly.
func (s *Server) Handler() http.Handler { return s.authenticate(s.mux) }

// Start listens and serves in the background. It fails when the address is taken, or when it is
// not loopback and no token is configured.
func (s *Server) Start(ctx context.Context) error {
	if s.cfg.Listen == "" {
		return nil
	}
	if s.cfg.Token == "" && !IsLoopback(s.cfg.Listen) {
		return errors.New("http: listening beyond loopback needs a bearer token (http.token in the config, or YOCHO_HTTP_TOKEN)")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	s.ln = ln
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on, once started (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop closes the listener and waits for running requests, up to 5 seconds.
func (s *Server) Stop() {
	if s.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	<-s.served
}

// authenticate requires the bearer token on /api/ and /metrics when one is configured.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether a host:port listen address is on loopback only.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
