// Package httpapi is the hub's HTTP surface: routing, request validation and
// OpenAPI (through huma), the error-to-status table, authentication
// middleware, security headers, CORS, metrics and the docs page. It
// translates HTTP to calls on the capability packages and nothing more.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"automationhub/internal/buildinfo"
	"automationhub/internal/config"
	"automationhub/internal/metrics"
)

// APIPrefix is where every JSON endpoint lives.
const APIPrefix = "/api/v1"

// Check is one readiness probe: a named dependency and how to reach it.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Deps is everything the server needs; cmd/hub fills it.
type Deps struct {
	Config  config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Version string
	// Ready lists the dependencies /readyz probes (database, Redis, …).
	Ready []Check
	// Auth resolves bearer tokens; Accounts serves login and user admin.
	Auth     Authenticator
	Accounts Accounts
	// Registry serves the robot endpoints.
	Registry Registry
	// Runs serves the run endpoints; LiveLogs feeds the WebSocket.
	Runs     Runs
	LiveLogs LiveLogs
	// LogRecheck is how often an open log stream authenticates its
	// caller's token again and checks run.read (default 10 s).
	LogRecheck time.Duration
	// Ops serves the operations views.
	Ops OpsViews
	// Portal serves domains and services.
	Portal Portal
	// RobotEnv serves robot configuration; Tokens API tokens and service
	// accounts.
	RobotEnv RobotEnv
	Tokens   Tokens
	// Schedules serves robot schedules; Pools serves resource pools and
	// robot run settings.
	Schedules Schedules
	Pools     Pools
	// Agents serves remote agents: enrolment and their protocol.
	Agents Agents
	// Alerts serves SLA rules, alerts and notifications; Stats the
	// dashboard figures (both optional).
	Alerts Alerts
	Stats  Stats
}

// Route is one registered method and path pattern.
type Route struct {
	Method string
	Path   string
	// Public routes need no credentials.
	Public bool
}

// Server is the HTTP API. Create it with New, then Start/Stop it or use Handler.
type Server struct {
	cfg            config.Config
	log            *slog.Logger
	metrics        *metrics.Metrics
	version        string
	ready          []Check
	trustedProxies []*net.IPNet
	auth           Authenticator
	accounts       Accounts
	registry       Registry
	runs           Runs
	live           LiveLogs
	logRecheck     time.Duration
	ops            OpsViews
	portal         Portal
	robotEnv       RobotEnv
	tokens         Tokens
	schedules      Schedules
	pools          Pools
	agents         Agents
	alerts         Alerts
	stats          Stats

	mux     *http.ServeMux
	api     huma.API
	inner   http.Handler // routes without the outer middleware
	handler http.Handler
	ui      http.Handler // browser pages; set by MountUI before Start

	mu       sync.Mutex
	routes   []Route
	srv      *http.Server
	served   chan struct{}
	serveErr error
	stopped  bool
}

// New builds the server and registers every route.
func New(d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(buildinfo.Read(d.Version))
	}
	if d.LogRecheck <= 0 {
		d.LogRecheck = 10 * time.Second
	}
	s := &Server{
		cfg:        d.Config,
		log:        d.Logger,
		metrics:    d.Metrics,
		version:    d.Version,
		ready:      d.Ready,
		mux:        http.NewServeMux(),
		auth:       d.Auth,
		accounts:   d.Accounts,
		registry:   d.Registry,
		runs:       d.Runs,
		live:       d.LiveLogs,
		logRecheck: d.LogRecheck,
		ops:        d.Ops,
		portal:     d.Portal,
		robotEnv:   d.RobotEnv,
		tokens:     d.Tokens,
		schedules:  d.Schedules,
		pools:      d.Pools,
		agents:     d.Agents,
		alerts:     d.Alerts,
		stats:      d.Stats,
	}
	for _, p := range d.Config.TrustedProxies {
		n, err := config.ParseIPOrCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("httpapi.New: TRUSTED_PROXIES: %w", err)
		}
		s.trustedProxies = append(s.trustedProxies, n)
	}

	hc := huma.DefaultConfig(d.Config.AppName+" API", d.Version)
	hc.Info.Description = "Registry of automation robots, their runs with live logs, and a self-service portal. " +
		"Errors are `{\"detail\": ...}`; timestamps are ISO-8601 UTC."
	hc.OpenAPIPath = "/openapi"
	hc.DocsPath = ""     // served by our own embedded page, see docs.go
	hc.SchemasPath = ""  // schemas live inside /openapi.json
	hc.CreateHooks = nil // no $schema field and no Link header in responses
	// Clients of the previous backend send extra fields; they are ignored.
	hc.AllowAdditionalPropertiesByDefault = true
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "A token from POST /api/v1/auth/token, an API token (hub_…, POST /api/v1/tokens), or an Azure AD access token for this API."},
	}
	s.api = humago.New(s.mux, hc)
	s.api.UseMiddleware(s.authMiddleware)

	s.registerSystemRoutes()
	s.registerIdentityRoutes()
	s.registerRobotRoutes()
	s.registerRunRoutes()
	s.registerLogStream()
	s.registerOpsRoutes()
	s.registerPortalRoutes()
	s.registerRobotEnvRoutes()
	s.registerDeployRoutes()
	s.registerTokenRoutes()
	s.registerScheduleRoutes()
	s.registerPoolRoutes()
	s.registerAgentRoutes()
	s.registerAlertRoutes()
	s.inner = jsonFallbacks(s.mux)
	s.handler = s.observe(s.guard(http.HandlerFunc(s.route)))
	return s, nil
}

// route sends requests that no API route matches to the web UI, when one is
// mounted; paths under the API prefix always get the API's JSON answers.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.ui != nil && !strings.HasPrefix(r.URL.Path, APIPrefix+"/") {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.ui.ServeHTTP(w, r)
			return
		}
	}
	s.inner.ServeHTTP(w, r)
}

// MountUI serves h for every path the API does not claim (the web UI). Call
// it before Start.
func (s *Server) MountUI(h http.Handler) { s.ui = h }

// APIHandler is the API's routes without the outer middleware (request ids,
// host check, CORS, logging): for an in-process client such as the web UI,
// whose own request already passed that middleware.
func (s *Server) APIHandler() http.Handler { return s.inner }

// API exposes the huma API so capability handlers can register operations.
func (s *Server) API() huma.API { return s.api }

// Handler returns the complete HTTP handler (middleware + routes).
func (s *Server) Handler() http.Handler { return s.handler }

// Routes returns every registered route, sorted by path then method.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.routes)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// register adds a huma operation and records the route. Operations get the
// configured body limit and the standard error responses, and inputs with
// a NUL character are refused before h runs (see refuseNULInput).
func register[I, O any](s *Server, op huma.Operation, public bool, h func(context.Context, *I) (*O, error)) {
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = s.cfg.MaxBodyBytes
	}
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		if err := refuseNULInput(reflect.ValueOf(in), ""); err != nil {
			return nil, err
		}
		return h(ctx, in)
	})
	s.mu.Lock()
	s.routes = append(s.routes, Route{Method: op.Method, Path: op.Path, Public: public})
	s.mu.Unlock()
}

// handlePlain registers a non-huma handler (metrics, docs, WebSocket, file
// downloads) and documents it in the OpenAPI document with op.
func (s *Server) handlePlain(op *huma.Operation, public bool, h http.Handler) {
	s.mux.Handle(op.Method+" "+op.Path, h)
	if !op.Hidden {
		s.api.OpenAPI().AddOperation(op)
	}
	s.mu.Lock()
	s.routes = append(s.routes, Route{Method: op.Method, Path: op.Path, Public: public})
	s.mu.Unlock()
}

// Start listens on the configured address and serves in the background. It
// returns once the listener is bound, so the caller can print the URL.
func (s *Server) Start(ctx context.Context) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil, errors.New("httpapi: already started")
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpapi: listen on %s: %w", s.cfg.Addr, err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
	}()
	return ln.Addr(), nil
}

// Done is closed when the server has stopped serving (after Stop, or when the
// listener fails; Err then tells why). Nil before Start.
func (s *Server) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Err returns the listener failure that stopped the server, if any; valid
// after Done is closed.
func (s *Server) Err() error { return s.serveErr }

// Stop stops accepting connections and waits for in-flight requests until ctx
// ends; then remaining connections are closed. Safe to call before Start and
// more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, served, already := s.srv, s.served, s.stopped
	if srv != nil {
		s.stopped = true
	}
	s.mu.Unlock()
	if srv == nil || already {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	<-served
	return err
}
