package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"automationhub/internal/buildinfo"
	"automationhub/internal/httpapi"
	"automationhub/internal/metrics"
)

func TestProbeHandler(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name       string
		checks     []httpapi.Check
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthz ignores dependencies", []httpapi.Check{{Name: "redis", Func: down}}, "/healthz", 200, `"status":"ok"`},
		{"ready", []httpapi.Check{{Name: "database", Func: ok}, {Name: "redis", Func: ok}}, "/readyz", 200, `"checks":{"database":"ok","redis":"ok"}`},
		{"a dependency down", []httpapi.Check{{Name: "database", Func: ok}, {Name: "redis", Func: down}}, "/readyz", 503, `"detail":"redis is not ready: connection refused"`},
		{"metrics", nil, "/metrics", 200, `hub_build_info{build_date="unknown",commit="unknown"`},
		{"anything else", nil, "/api/v1/runs", 404, `"detail":"Not Found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := httpapi.ProbeHandler(tt.checks, metrics.New(buildinfo.Info{Version: "test", Commit: "unknown", Date: "unknown", GoVersion: "go"}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("GET %s: got %d %s, want %d with %s", tt.path, rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if strings.HasSuffix(tt.path, "z") && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("GET %s: body is not JSON: %s", tt.path, rec.Body.String())
			}
		})
	}
}
