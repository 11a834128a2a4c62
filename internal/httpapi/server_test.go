package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/httpapi"
)

type bundle struct {
	srv     *httpapi.Server
	handler http.Handler
}

func setup(t *testing.T, vars map[string]string, checks ...httpapi.Check) bundle {
	t.Helper()
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Deps{Config: cfg, Version: "test", Ready: checks, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{srv: srv, handler: srv.Handler()}
}

func (b bundle) do(t *testing.T, method, target string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	return m
}

func TestHealth(t *testing.T) {
	b := setup(t, nil)
	rec := b.do(t, http.MethodGet, "/api/v1/health", nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	body := decode(t, rec)
	if body["status"] != "ok" || body["service"] == "" {
		t.Errorf("body = %v, want status ok and a service name", body)
	}
	ts, _ := body["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp %q is not an ISO-8601 UTC time: %v", ts, err)
	}
	if len(body) != 3 {
		t.Errorf("body has %d fields, want exactly service, status, timestamp: %v", len(body), body)
	}
}

func TestErrorsAreJSONDetail(t *testing.T) {
	b := setup(t, nil)
	tests := []struct {
		name, method, path string
		want               int
		detail             string
	}{
		{"unknown route", http.MethodGet, "/api/v1/nope", http.StatusNotFound, "Not Found"},
		{"unknown root path", http.MethodGet, "/whatever", http.StatusNotFound, "Not Found"},
		{"wrong method", http.MethodDelete, "/api/v1/health", http.StatusMethodNotAllowed, "Method Not Allowed"},
		{"unknown docs asset", http.MethodGet, "/docs/../../etc/passwd", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := b.do(t, tt.method, tt.path, nil, nil)
			if rec.Code != tt.want && !(tt.detail == "" && rec.Code == http.StatusTemporaryRedirect) {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.detail == "" {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := decode(t, rec)["detail"]; got != tt.detail {
				t.Errorf("detail = %v, want %q", got, tt.detail)
			}
		})
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	b := setup(t, nil)
	for _, path := range []string{"/api/v1/health", "/nope", "/metrics", "/openapi.json"} {
		rec := b.do(t, http.MethodGet, path, nil, nil)
		for h, want := range map[string]string{
			"X-Frame-Options":           "DENY",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
			"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
			"Permissions-Policy":        "geolocation=(), microphone=(), camera=()",
		} {
			if got := rec.Header().Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP = %q, want frame-ancestors 'none'", path, rec.Header().Get("Content-Security-Policy"))
		}
		if rec.Header().Get("X-Request-ID") == "" {
			t.Errorf("%s: no X-Request-ID", path)
		}
	}
}

func TestRequestIDIsEchoedWhenSafe(t *testing.T) {
	b := setup(t, nil)
	rec := b.do(t, http.MethodGet, "/healthz", nil, http.Header{"X-Request-Id": {"abc-123"}})
	if got := rec.Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID = %q, want abc-123", got)
	}
	rec = b.do(t, http.MethodGet, "/healthz", nil, http.Header{"X-Request-Id": {"bad id\r\n<script>"}})
	if got := rec.Header().Get("X-Request-ID"); got == "" || strings.ContainsAny(got, " <") {
		t.Errorf("X-Request-ID = %q, want a fresh safe id", got)
	}
}

func TestTrailingSlashRedirects(t *testing.T) {
	b := setup(t, nil)
	rec := b.do(t, http.MethodGet, "/api/v1/health/?x=1", nil, nil)
	if rec.Code != http.StatusTemporaryRedirect {
		t.Fatalf("status = %d, want 307", rec.Code)
	}
	if loc := rec.Header().Get("Location"); loc != "/api/v1/health?x=1" {
		t.Errorf("Location = %q, want /api/v1/health?x=1", loc)
	}
}

func TestAllowedHosts(t *testing.T) {
	b := setup(t, map[string]string{"ALLOWED_HOSTS": "hub.example.com, *.corp.local"})
	tests := []struct {
		host string
		want int
	}{
		{"hub.example.com", http.StatusOK},
		{"hub.example.com:8000", http.StatusOK},
		{"a.corp.local", http.StatusOK},
		{"evil.example.com", http.StatusBadRequest},
		{"corp.local.evil", http.StatusBadRequest},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = tt.host
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("Host %q: status = %d, want %d", tt.host, rec.Code, tt.want)
		}
		if tt.want == http.StatusBadRequest && rec.Body.String() != "Invalid host header" {
			t.Errorf("Host %q: body = %q, want Invalid host header", tt.host, rec.Body.String())
		}
	}
}

func TestCORS(t *testing.T) {
	b := setup(t, map[string]string{"CORS_ORIGINS": "http://localhost:3000"})
	preflight := func(origin, headers string) *httptest.ResponseRecorder {
		return b.do(t, http.MethodOptions, "/api/v1/health", nil, http.Header{
			"Origin":                         {origin},
			"Access-Control-Request-Method":  {"GET"},
			"Access-Control-Request-Headers": {headers},
		})
	}
	rec := preflight("http://localhost:3000", "authorization, content-type")
	if rec.Code != http.StatusOK {
		t.Fatalf("allowed preflight: status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("Allow-Origin = %q", got)
	}
	if !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("Allow-Methods = %q, want PATCH among them", rec.Header().Get("Access-Control-Allow-Methods"))
	}
	if got := rec.Header().Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("Allow-Credentials = %q, want none", got)
	}
	if rec := preflight("http://evil.test", "authorization"); rec.Code != http.StatusBadRequest {
		t.Errorf("foreign origin preflight: status = %d, want 400", rec.Code)
	}
	if rec := preflight("http://localhost:3000", "x-deploy-token"); rec.Code != http.StatusBadRequest {
		t.Errorf("disallowed header preflight: status = %d, want 400", rec.Code)
	}
	simple := b.do(t, http.MethodGet, "/api/v1/health", nil, http.Header{"Origin": {"http://localhost:3000"}})
	if got := simple.Header().Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("simple request Allow-Origin = %q", got)
	}
	foreign := b.do(t, http.MethodGet, "/api/v1/health", nil, http.Header{"Origin": {"http://evil.test"}})
	if got := foreign.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("foreign origin got Allow-Origin %q", got)
	}
}

func TestReadiness(t *testing.T) {
	ok := httpapi.Check{Name: "database", Func: func(context.Context) error { return nil }}
	down := httpapi.Check{Name: "redis", Func: func(context.Context) error { return errors.New("connection refused") }}
	slow := httpapi.Check{Name: "database", Func: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}

	rec := setup(t, nil, ok).do(t, http.MethodGet, "/readyz", nil, nil)
	if rec.Code != http.StatusOK || decode(t, rec)["status"] != "ready" {
		t.Errorf("all up: %d %s, want 200 ready", rec.Code, rec.Body)
	}
	rec = setup(t, nil, ok, down).do(t, http.MethodGet, "/readyz", nil, nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("redis down: status = %d, want 503", rec.Code)
	}
	if d, _ := decode(t, rec)["detail"].(string); !strings.Contains(d, "redis") || !strings.Contains(d, "connection refused") {
		t.Errorf("detail = %q, want it to name redis and the reason", d)
	}
	start := time.Now()
	rec = setup(t, nil, slow).do(t, http.MethodGet, "/readyz", nil, nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("hanging database: status = %d, want 503", rec.Code)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("readiness waited %v for a hanging dependency", time.Since(start))
	}
	// Liveness does not depend on anything.
	if rec := setup(t, nil, down).do(t, http.MethodGet, "/healthz", nil, nil); rec.Code != http.StatusOK {
		t.Errorf("/healthz with a dependency down: %d, want 200", rec.Code)
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	b := setup(t, nil)
	b.do(t, http.MethodGet, "/api/v1/health", nil, nil)
	b.do(t, http.MethodGet, "/no/such/thing", nil, nil)
	rec := b.do(t, http.MethodGet, "/metrics", nil, nil)
	text := rec.Body.String()
	for _, want := range []string{
		`hub_http_requests_total{method="GET",route="GET /api/v1/health",status="200"} 1`,
		`hub_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		"hub_http_request_duration_seconds_bucket",
		"go_goroutines",
		// A test binary records no commit: the labels say so.
		`hub_build_info{build_date="unknown",commit="unknown",goversion="` + runtime.Version() + `",version="test"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "/no/such/thing") {
		t.Error("/metrics leaks raw unmatched paths into labels")
	}
}

func TestDocsPageIsSelfContained(t *testing.T) {
	b := setup(t, nil)
	rec := b.do(t, http.MethodGet, "/docs", nil, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script>") {
		t.Errorf("/docs page references remote resources or inline scripts:\n%s", page)
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"} {
		if !strings.Contains(page, asset) {
			t.Errorf("/docs does not load %s", asset)
		}
		rec := b.do(t, http.MethodGet, asset, nil, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%s: status %d, %d bytes", asset, rec.Code, rec.Body.Len())
		}
	}
}

// TestOpenAPIListsEveryRoute checks the document against the router: every
// registered route appears with its method, and the document is OpenAPI 3.1.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	b := setup(t, nil)
	rec := b.do(t, http.MethodGet, "/openapi.json", nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	routes := b.srv.Routes()
	if len(routes) < 6 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		ops, ok := doc.Paths[r.Path]
		if !ok {
			t.Errorf("route %s %s missing from /openapi.json", r.Method, r.Path)
			continue
		}
		if _, ok := ops[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method missing from /openapi.json", r.Method, r.Path)
		}
	}
	documented := 0
	for _, ops := range doc.Paths {
		documented += len(ops)
	}
	if documented != len(routes) {
		t.Errorf("document has %d operations, router has %d routes", documented, len(routes))
	}
}
