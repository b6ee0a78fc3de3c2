package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths the server answers; the deploy manifests' probes use them.
const (
	PathMetrics = "/metrics"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
)

const (
	// ReadyTimeout bounds one readiness check (it may read the checkpoint store).
	ReadyTimeout = 5 * time.Second
	// DefaultShutdownTimeout bounds the wait for requests in flight when the server stops.
	DefaultShutdownTimeout = 5 * time.Second
)

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	handler         http.Handler
	log             *slog.Logger
	shutdownTimeout time.Duration
}

// NewServer serves the metrics of reg and the readiness of ready. log nil discards.
func NewServer(reg *prometheus.Registry, ready ReadinessSource, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+PathMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slogPrinter{log},
		Registry:          reg, // promhttp_* metrics about the scrapes themselves
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET "+PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		// Alive means this process answers; whether the backup advances is /readyz's job,
		// and a restart would not make a stalled store come back faster.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET "+PathReadyz, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := ready.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "ddbtape\n%s  Prometheus metrics\n%s  liveness\n%s   readiness\n", PathMetrics, PathHealthz, PathReadyz)
	})
	return &Server{handler: mux, log: log, shutdownTimeout: DefaultShutdownTimeout}
}

// Handler is the server's routes, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until ctx ends, then stops accepting, waits up to the shutdown
// timeout for requests in flight, and returns nil. It closes ln. Another error means
// serving failed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("http server listening", "address", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && serveErr != nil {
		return fmt.Errorf("http server: %w", serveErr)
	}
	if err != nil {
		s.log.Warn("http server shutdown: requests still in flight were cut off", "err", err)
		srv.Close()
	}
	return nil
}

// slogPrinter lets promhttp report encoding errors through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }
