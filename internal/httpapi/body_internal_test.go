package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/config"
	"automationhub/internal/hub"
)

type echoInput struct {
	Body struct {
		Name  string `json:"name" minLength:"3" maxLength:"20"`
		Count int    `json:"count,omitempty" minimum:"0"`
	}
}

type echoOutput struct {
	Body struct {
		Name string `json:"name"`
	}
}

// newEchoServer registers a JSON operation the way capability handlers do,
// plus one that fails with each error kind.
func newEchoServer(t *testing.T, vars map[string]string) http.Handler {
	t.Helper()
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Config: cfg, Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	register(s, huma.Operation{OperationID: "echo", Method: http.MethodPost, Path: APIPrefix + "/echo"}, true,
		func(ctx context.Context, in *echoInput) (*echoOutput, error) {
			out := &echoOutput{}
			out.Body.Name = in.Body.Name
			return out, nil
		})
	register(s, huma.Operation{OperationID: "fail", Method: http.MethodGet, Path: APIPrefix + "/fail/{kind}"}, true,
		func(ctx context.Context, in *struct {
			Kind string `path:"kind"`
		}) (*echoOutput, error) {
			if in.Kind == "plain" {
				return nil, context.DeadlineExceeded // an internal error with a chain
			}
			return nil, hub.Errorf(in.Kind, "failure of kind %s.", in.Kind)
		})
	return s.Handler()
}

func TestBodyValidation(t *testing.T) {
	h := newEchoServer(t, map[string]string{"HUB_MAX_BODY_BYTES": "2048"})
	tests := []struct {
		name        string
		contentType string
		body        string
		want        int
		listDetail  bool
	}{
		{"valid", "application/json", `{"name":"robot"}`, http.StatusOK, false},
		{"extra fields ignored", "application/json", `{"name":"robot","x":1}`, http.StatusOK, false},
		{"malformed JSON", "application/json", `{"name":`, http.StatusBadRequest, false},
		{"too short", "application/json", `{"name":"ab"}`, http.StatusUnprocessableEntity, true},
		{"wrong type", "application/json", `{"name":5}`, http.StatusUnprocessableEntity, true},
		{"missing field", "application/json", `{}`, http.StatusUnprocessableEntity, true},
		{"oversized", "application/json", `{"name":"` + strings.Repeat("a", 4096) + `"}`, http.StatusRequestEntityTooLarge, false},
		{"wrong content type", "text/xml", `<name>robot</name>`, http.StatusUnsupportedMediaType, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, APIPrefix+"/echo", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.want, rec.Body)
			}
			if rec.Code < 400 {
				return
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
			}
			if len(body) != 1 || body["detail"] == nil {
				t.Fatalf("error body = %s, want only a detail field", rec.Body)
			}
			if tt.listDetail {
				var items []ValidationItem
				if err := json.Unmarshal(body["detail"], &items); err != nil || len(items) == 0 {
					t.Fatalf("detail = %s, want a non-empty list of validation items", body["detail"])
				}
				if items[0].Msg == "" || len(items[0].Loc) == 0 {
					t.Errorf("validation item %+v lacks msg or loc", items[0])
				}
			} else {
				var s string
				if err := json.Unmarshal(body["detail"], &s); err != nil || s == "" {
					t.Errorf("detail = %s, want a message string", body["detail"])
				}
			}
		})
	}
}

func TestErrorKindsMapToStatus(t *testing.T) {
	h := newEchoServer(t, nil)
	tests := []struct {
		kind   string
		want   int
		detail string
	}{
		{hub.EInvalid, 400, "failure of kind invalid."},
		{hub.EUnauthorized, 401, "failure of kind unauthorized."},
		{hub.EForbidden, 403, "failure of kind forbidden."},
		{hub.ENotFound, 404, "failure of kind not_found."},
		{hub.EConflict, 409, "failure of kind conflict."},
		{hub.ETooLarge, 413, "failure of kind too_large."},
		{hub.EUnprocessable, 422, "failure of kind unprocessable."},
		{hub.ETooManyRequests, 429, "failure of kind too_many_requests."},
		{hub.EUnavailable, 503, "failure of kind unavailable."},
		{"plain", 500, "Internal server error."},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, APIPrefix+"/fail/"+tt.kind, nil))
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			var body struct{ Detail string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Detail != tt.detail {
				t.Errorf("detail = %q, want %q", body.Detail, tt.detail)
			}
			if tt.want == 401 && rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			retry := map[int]string{429: "60", 503: "5"}[tt.want]
			if got := rec.Header().Get("Retry-After"); got != retry {
				t.Errorf("Retry-After = %q, want %q", got, retry)
			}
			if tt.want == 500 && strings.Contains(rec.Body.String(), "deadline") {
				t.Errorf("internal error text leaked to the client: %s", rec.Body)
			}
		})
	}
}

func TestStatusTableCoversEveryKind(t *testing.T) {
	for _, k := range []string{hub.EInvalid, hub.EUnauthorized, hub.EForbidden, hub.ENotFound, hub.EConflict,
		hub.ETooLarge, hub.EUnprocessable, hub.ETooManyRequests, hub.EUnavailable, hub.EInternal} {
		if _, ok := statusByKind[k]; !ok {
			t.Errorf("error kind %q has no HTTP status", k)
		}
	}
}
