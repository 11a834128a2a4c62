package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/config"
)

// TestStopDrainsInFlightRequests starts a real listener, begins a slow
// request, stops the server, and expects the request to finish normally
// while new connections are refused.
func TestStopDrainsInFlightRequests(t *testing.T) {
	cfg, err := config.Load(map[string]string{"HUB_ADDR": "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Config: cfg, Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	entered := make(chan struct{})
	register(s, huma.Operation{OperationID: "slow", Method: http.MethodGet, Path: APIPrefix + "/slow"}, true,
		func(ctx context.Context, _ *struct{}) (*LiveOutput, error) {
			close(entered)
			time.Sleep(300 * time.Millisecond)
			out := &LiveOutput{}
			out.Body.Status = "done"
			return out, nil
		})
	addr, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + APIPrefix + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-entered
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	r := <-res
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight request: %d %q %v, want 200", r.code, r.body, r.err)
	}
	if _, err := http.Get("http://" + addr.String() + "/healthz"); err == nil {
		t.Error("new request accepted after Stop")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	<-s.Done()
	if s.Err() != nil {
		t.Errorf("Err after clean stop = %v, want nil", s.Err())
	}
}
