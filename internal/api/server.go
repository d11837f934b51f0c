// Package api is yocho's HTTP server: the JSON API under /api/v1/, Prometheus metrics on /metrics,
// and the web UI on /. Each area's handlers are in a file of their own and are mounted by
// cmd/yocho, which wires the components they read from.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
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
}

// New returns a server that serves metrics from gatherer. It does no I/O.
func New(cfg Config, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: log}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	s.mux.Handle("/", web.Handler())
	s.Mount("GET /api/v1/openapi.json", serveOpenAPI)
	return s
}

// Mount serves pattern (as http.ServeMux reads it, e.g. "GET /api/v1/exporters") with h.
func (s *Server) Mount(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

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
		return errors.New("http: listening beyond loopback needs a token (http_token in the config)")
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
