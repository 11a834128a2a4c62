package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/metrics"
)

// HealthOutput is the body of GET /api/v1/health.
type HealthOutput struct {
	Body struct {
		Service   string    `json:"service" example:"automation-hub-api"`
		Status    string    `json:"status" example:"ok"`
		Timestamp time.Time `json:"timestamp"`
	}
}

// ReadyOutput is the body of GET /readyz.
type ReadyOutput struct {
	Body struct {
		Status string            `json:"status" example:"ready"`
		Checks map[string]string `json:"checks" doc:"Each dependency and \"ok\" or the reason it failed."`
	}
}

// LiveOutput is the body of GET /healthz.
type LiveOutput struct {
	Body struct {
		Status string `json:"status" example:"ok"`
	}
}

const tagSystem = "System"

func (s *Server) registerSystemRoutes() {
	register(s, huma.Operation{
		OperationID: "health", Method: http.MethodGet, Path: APIPrefix + "/health", Tags: []string{tagSystem},
		Summary:     "Service health (compatible with the previous backend)",
		Description: "Always answers ok while the process serves HTTP; use /readyz to probe dependencies.",
	}, true, func(ctx context.Context, _ *struct{}) (*HealthOutput, error) {
		out := &HealthOutput{}
		out.Body.Service = "automation-hub-api"
		out.Body.Status = "ok"
		out.Body.Timestamp = time.Now().UTC().Truncate(time.Microsecond)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "liveness", Method: http.MethodGet, Path: "/healthz", Tags: []string{tagSystem},
		Summary: "Liveness: the process is up",
	}, true, func(ctx context.Context, _ *struct{}) (*LiveOutput, error) {
		out := &LiveOutput{}
		out.Body.Status = "ok"
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "readiness", Method: http.MethodGet, Path: "/readyz", Tags: []string{tagSystem},
		Summary:     "Readiness: the database (and Redis, when configured) answer",
		Description: "503 with the failing dependency when one does not answer within 2 seconds.",
		Errors:      []int{http.StatusServiceUnavailable},
	}, true, s.readiness)

	s.handlePlain(&huma.Operation{
		OperationID: "metrics", Method: http.MethodGet, Path: "/metrics", Tags: []string{tagSystem},
		Summary: "Prometheus metrics (text exposition format)",
		Responses: map[string]*huma.Response{"200": {
			Description: "Metrics in the Prometheus text format.",
			Content:     map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: huma.TypeString}}},
		}},
	}, true, s.metrics.Handler())

	// huma serves the document itself; record and document the route.
	s.api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "openapi", Method: http.MethodGet, Path: "/openapi.json", Tags: []string{tagSystem},
		Summary: "This OpenAPI 3.1 document",
		Responses: map[string]*huma.Response{"200": {
			Description: "The OpenAPI document.",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: huma.TypeObject}}},
		}},
	})
	s.routes = append(s.routes, Route{Method: http.MethodGet, Path: "/openapi.json", Public: true})

	s.registerDocs()
}

// readiness probes every dependency in parallel with a short timeout.
func (s *Server) readiness(ctx context.Context, _ *struct{}) (*ReadyOutput, error) {
	checks, failed := probe(ctx, s.ready)
	if failed != "" {
		return nil, &ErrorBody{status: http.StatusServiceUnavailable, Detail: failed + " is not reachable: " + checks[failed]}
	}
	out := &ReadyOutput{}
	out.Body.Status = "ready"
	out.Body.Checks = checks
	return out, nil
}

// probe runs every check in parallel, each within 2 seconds, and returns
// each check's "ok" or error text, and the first failed check by name ("" when
// all passed).
func probe(ctx context.Context, ready []Check) (checks map[string]string, failed string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	checks = make(map[string]string, len(ready))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range ready {
		wg.Go(func() {
			res := "ok"
			if err := c.Func(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			checks[c.Name] = res
			if res != "ok" && (failed == "" || c.Name < failed) {
				failed = c.Name
			}
		})
	}
	wg.Wait()
	return checks, failed
}

// ProbeHandler serves GET /healthz, /readyz and /metrics for a process
// without the API (hub worker, hub cleanup), answering as the API does:
// /healthz is always ok, /readyz runs ready (200 {"status":"ready","checks":…},
// or 503 {"detail": …} naming the first failed check), /metrics serves m.
func ProbeHandler(ready []Check, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		var out LiveOutput
		out.Body.Status = "ok"
		writeProbe(w, http.StatusOK, out.Body)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		checks, failed := probe(r.Context(), ready)
		if failed != "" {
			writeProbe(w, http.StatusServiceUnavailable, map[string]string{"detail": failed + " is not ready: " + checks[failed]})
			return
		}
		var out ReadyOutput
		out.Body.Status, out.Body.Checks = "ready", checks
		writeProbe(w, http.StatusOK, out.Body)
	})
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeProbe(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	})
	return mux
}

func writeProbe(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
