package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/hub"
)

// flakyHub accepts log batches over HTTP, failing some requests before and
// some after storing them (a lost answer), and records every seq it stored.
type flakyHub struct {
	mu     sync.Mutex
	n      int
	stored []int64
	seen   map[int64]bool
}

func (f *flakyHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if n%3 == 1 { // refused before storing: a hub restarting
		http.Error(w, `{"detail":"restarting"}`, http.StatusServiceUnavailable)
		return
	}
	var body struct {
		Lines []wireLine `json:"lines"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	for _, l := range body.Lines { // idempotent by seq, as the hub's store
		if !f.seen[l.Seq] {
			f.seen[l.Seq] = true
			f.stored = append(f.stored, l.Seq)
		}
	}
	f.mu.Unlock()
	if n%3 == 2 { // stored, but the answer is lost
		hj, _ := w.(http.Hijacker)
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"held":true}`))
}

// TestSpoolDeliversEveryLineOnceInOrder: through refusals and lost answers,
// every line reaches the hub, in order, stored once; the spool file is
// emptied once everything is delivered.
func TestSpoolDeliversEveryLineOnceInOrder(t *testing.T) {
	t.Parallel()
	f := &flakyHub{seen: map[int64]bool{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := NewClient(ClientConfig{Server: srv.URL, Credential: "hubagent_x", Version: "test", SpoolDir: t.TempDir(),
		Lease: 20 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const batches, per = 40, 25
	seq := int64(0)
	for range batches {
		lines := make([]hub.LogLine, per)
		for i := range lines {
			seq++
			lines[i] = hub.LogLine{Seq: seq, Timestamp: time.Now(), Level: hub.LevelInfo, Message: "line"}
		}
		if held, err := c.AppendRunLogs(context.Background(), "run-1", "", lines); err != nil || !held {
			t.Fatalf("append: %v, %v", held, err)
		}
	}
	sp := c.spools.get("run-1")
	if held, err := sp.drain(context.Background(), 20*time.Second); err != nil || !held {
		t.Fatalf("drain: %v, %v", held, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stored) != batches*per {
		t.Fatalf("stored %d lines, want %d", len(f.stored), batches*per)
	}
	for i, s := range f.stored {
		if s != int64(i+1) {
			t.Fatalf("line %d stored as seq %d: out of order", i+1, s)
		}
	}
	sp.mu.Lock()
	written := sp.written
	sp.mu.Unlock()
	if written != 0 {
		t.Errorf("spool still holds %d bytes after delivery", written)
	}
	c.spools.drop("run-1")
}

// TestSpoolIsBounded: while the hub is unreachable, a run's spool takes
// lines up to its limit, then asks the caller to wait (an error), losing
// nothing it accepted.
func TestSpoolIsBounded(t *testing.T) {
	t.Parallel()
	c, err := NewClient(ClientConfig{Server: "http://127.0.0.1:1", Credential: "hubagent_x", Version: "test", SpoolDir: t.TempDir(),
		SpoolMaxBytes: 4096, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.spools.drop("run-2")
	var accepted int
	var last error
	for i := range 200 {
		_, err := c.AppendRunLogs(context.Background(), "run-2", "", []hub.LogLine{{Seq: int64(i + 1), Timestamp: time.Now(), Level: hub.LevelInfo, Message: strings.Repeat("x", 40)}})
		if err != nil {
			last = err
			break
		}
		accepted++
	}
	if last == nil || !strings.Contains(last.Error(), "spool full") || accepted == 0 {
		t.Fatalf("accepted %d lines, then %v; want a full spool", accepted, last)
	}
	if hub.ErrorKind(last) != hub.EInternal {
		t.Errorf("a full spool is %s, want a retryable (internal) error", hub.ErrorKind(last))
	}
}

// TestSpoolBatchesStayWithinTheHubsLimit: records that pile up while a
// delivery is under way are joined into batches of at most sendMaxLines
// lines (the hub refuses more), every line once and in order.
func TestSpoolBatchesStayWithinTheHubsLimit(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var (
		mu      sync.Mutex
		sizes   []int
		stored  []int64
		blocked bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Lines []wireLine `json:"lines"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		first := !blocked
		blocked = true
		sizes = append(sizes, len(body.Lines))
		mu.Unlock()
		if first {
			<-release // the other records pile up in the spool meanwhile
		}
		if len(body.Lines) > sendMaxLines {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"detail":"lines: at most 10000 per batch."}`))
			return
		}
		mu.Lock()
		for _, l := range body.Lines {
			stored = append(stored, l.Seq)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"held":true}`))
	}))
	defer srv.Close()
	c, err := NewClient(ClientConfig{Server: srv.URL, Credential: "hubagent_x", Version: "test", SpoolDir: t.TempDir(),
		Lease: 20 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const records, per = 4, 8192
	seq := int64(0)
	for i := range records {
		lines := make([]hub.LogLine, per)
		for j := range lines {
			seq++
			lines[j] = hub.LogLine{Seq: seq, Timestamp: time.Now(), Level: hub.LevelInfo, Message: "line"}
		}
		if held, err := c.AppendRunLogs(context.Background(), "run-1", "", lines); err != nil || !held {
			t.Fatalf("append: %v, %v", held, err)
		}
		if i == 0 {
			// Let the first record reach the hub and hold it there.
			for deadline := time.Now().Add(10 * time.Second); ; {
				mu.Lock()
				b := blocked
				mu.Unlock()
				if b {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the first batch never reached the hub")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	close(release)
	sp := c.spools.get("run-1")
	if held, err := sp.drain(context.Background(), 20*time.Second); err != nil || !held {
		t.Fatalf("drain: %v, %v", held, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > sendMaxLines {
			t.Errorf("a batch of %d lines was sent (batches %v); the hub takes at most %d", n, sizes, sendMaxLines)
		}
	}
	if len(sizes) < 3 {
		t.Errorf("batches %v: the piled-up records were not joined as expected", sizes)
	}
	if len(stored) != records*per {
		t.Fatalf("stored %d lines, want %d", len(stored), records*per)
	}
	for i, s := range stored {
		if s != int64(i+1) {
			t.Fatalf("line %d stored as seq %d: out of order", i+1, s)
		}
	}
	c.spools.drop("run-1")
}
