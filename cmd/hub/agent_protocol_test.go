package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// agentHTTP speaks the agent protocol by hand, as a (possibly hostile)
// agent would.
type agentHTTP struct {
	t          testing.TB
	base       string
	credential string
	id         string
}

func (a *agentHTTP) call(method, path string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.credential != "" {
		req.Header.Set("Authorization", "Bearer "+a.credential)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// enrollmentToken creates an enrolment token as an administrator.
func enrollmentToken(t testing.TB, c *hubClient, maxUses int) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	body := `{"name":"test agents"}`
	if maxUses > 0 {
		body = fmt.Sprintf(`{"name":"test agents","max_uses":%d}`, maxUses)
	}
	if st := c.call("POST", "/agents/enrollment-tokens", "application/json", strings.NewReader(body), &out); st != http.StatusCreated || !strings.HasPrefix(out.Token, "hubenroll_") {
		t.Fatalf("create enrolment token: %d %+v", st, out)
	}
	return out.Token
}

// enrollAgent enrols a hand-made agent.
func enrollAgent(t testing.TB, base, token, host string, labels ...string) *agentHTTP {
	t.Helper()
	a := &agentHTTP{t: t, base: base}
	var out struct {
		AgentID    string `json:"agent_id"`
		Credential string `json:"credential"`
	}
	if labels == nil {
		labels = []string{}
	}
	if st := a.call("POST", "/agent/enroll", map[string]any{"token": token, "hostname": host, "os": "linux", "version": "test", "labels": labels}, &out); st != http.StatusCreated {
		t.Fatalf("enrol %s: %d", host, st)
	}
	a.credential, a.id = out.Credential, out.AgentID
	var e struct{ Detail string }
	if st := a.call("POST", "/agent/heartbeat", map[string]any{"hostname": host, "os": "linux", "version": "test", "labels": labels, "concurrency": 1, "started_at": time.Now()}, &e); st != http.StatusOK {
		t.Fatalf("heartbeat of %s: %d %s", host, st, e.Detail)
	}
	return a
}

type claimed struct {
	Run *struct {
		ID string `json:"ID"`
	} `json:"run"`
	Version *struct {
		ArtifactSHA256 *string `json:"ArtifactSHA256"`
	} `json:"version"`
}

// TestAgentProtocolAccess: an agent reaches only the runs it holds. Another
// agent gets 403 for its run's secrets, log, package, artifacts and end; a
// single-use enrolment token enrols one agent; a revoked agent's next
// request is refused (401); an incompatible version is refused with what to
// upgrade. On both databases.
func TestAgentProtocolAccess(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the robot is a shell script")
	}
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			vars := map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"}
			if dialect == config.Postgres {
				vars["DATABASE_URL"] = hubtest.DatabaseConfig(t, dialect).DSN
			}
			m, _ := startMain(t, "serve", vars)
			base := "http://" + m.Addr.String() + "/api/v1"
			c := login(t, base, "admin", "admin-password-1")
			robot := c.shellRobot("agent-secrets", "#!/bin/sh\necho hello\n")
			if st := c.call("PUT", "/robots/"+robot+"/env?env=PROD", "application/json",
				strings.NewReader(`{"items":[{"key":"API_TOKEN","value":"s3cret-value-1","is_secret":true}]}`), nil); st != http.StatusOK {
				t.Fatalf("set configuration: %d", st)
			}
			single := enrollmentToken(t, c, 1)
			a := enrollAgent(t, base, single, "desk-a")
			if st := (&agentHTTP{t: t, base: base}).call("POST", "/agent/enroll", map[string]any{"token": single, "hostname": "desk-x", "os": "linux", "version": "test", "labels": []string{}}, nil); st != http.StatusUnauthorized {
				t.Errorf("second use of a single-use token: %d, want 401", st)
			}
			b := enrollAgent(t, base, enrollmentToken(t, c, 0), "desk-b")

			var run runView
			c.call("POST", "/runs/"+robot+"/execute", "application/json", strings.NewReader(`{}`), &run)
			var got claimed
			if st := a.call("POST", "/agent/claim", map[string]any{"version": "test", "wait_seconds": 20}, &got); st != http.StatusOK || got.Run == nil || got.Run.ID != run.RunID {
				t.Fatalf("claim: %d %+v", st, got)
			}
			sum := *got.Version.ArtifactSHA256
			id := run.RunID
			forbidden := []struct {
				method, path string
				body         any
			}{
				{"GET", "/agent/runs/" + id + "/config", nil},
				{"POST", "/agent/runs/" + id + "/logs", map[string]any{"lines": []map[string]any{{"seq": 1, "timestamp": time.Now(), "level": "INFO", "message": "forged"}}}},
				{"GET", "/agent/runs/" + id + "/logs/last-seq", nil},
				{"GET", "/agent/runs/" + id + "/package/" + sum, nil},
				{"PUT", "/agent/runs/" + id + "/pid", map[string]any{"pid": 1}},
				{"POST", "/agent/runs/" + id + "/finish", map[string]any{"status": "SUCCESS", "finished_at": time.Now(), "lines": []any{}, "artifacts": []any{}}},
				{"POST", "/agent/runs/" + id + "/fail", map[string]any{"error": "x", "log": "x"}},
			}
			for _, f := range forbidden {
				if st := b.call(f.method, f.path, f.body, nil); st != http.StatusForbidden {
					t.Errorf("another agent: %s %s = %d, want 403", f.method, f.path, st)
				}
			}
			var leases struct {
				Held []string `json:"held"`
			}
			if b.call("POST", "/agent/leases", map[string]any{"run_ids": []string{id}}, &leases); len(leases.Held) != 0 {
				t.Errorf("another agent renewed the lease: %v", leases.Held)
			}
			var cfg struct {
				Env     map[string]string `json:"env"`
				Secrets []string          `json:"secrets"`
			}
			if st := a.call("GET", "/agent/runs/"+id+"/config", nil, &cfg); st != http.StatusOK || cfg.Env["API_TOKEN"] != "s3cret-value-1" || len(cfg.Secrets) != 1 {
				t.Errorf("the holder's configuration: %d %+v", st, cfg)
			}
			var held struct {
				Held bool `json:"held"`
			}
			lines := map[string]any{"lines": []map[string]any{{"seq": 1, "timestamp": time.Now(), "level": "INFO", "message": "from the agent"}}}
			for range 2 { // sent twice (a lost answer): stored once
				if st := a.call("POST", "/agent/runs/"+id+"/logs", lines, &held); st != http.StatusOK || !held.Held {
					t.Errorf("the holder's log: %d %+v", st, held)
				}
			}
			var done struct {
				Recorded bool `json:"recorded"`
			}
			if st := a.call("POST", "/agent/runs/"+id+"/finish", map[string]any{"status": "SUCCESS", "exit_code": 0, "finished_at": time.Now(),
				"lines": []map[string]any{{"seq": 2, "timestamp": time.Now(), "level": "INFO", "message": "done"}}, "artifacts": []any{}}, &done); st != http.StatusOK || !done.Recorded {
				t.Errorf("finish: %d %+v", st, done)
			}
			if r := c.waitRun(id, 10*time.Second); r.Status != "SUCCESS" {
				t.Errorf("run = %s", r.Status)
			}
			if msgs := c.logMessages(id); strings.Join(msgs, "|") != "from the agent|done" {
				t.Errorf("log = %q", msgs)
			}
			// An artifact forged to point at another run's files is refused.
			var agentsList []struct {
				ID     string   `json:"id"`
				Labels []string `json:"labels"`
			}
			if st := c.call("GET", "/agents", "", nil, &agentsList); st != http.StatusOK || len(agentsList) != 2 {
				t.Errorf("agents list: %d %+v", st, agentsList)
			}
			var workers []struct {
				ID       string `json:"id"`
				Hostname string `json:"hostname"`
			}
			c.call("GET", "/workers", "", nil, &workers)
			found := false
			for _, w := range workers {
				found = found || w.ID == a.id
			}
			if !found {
				t.Errorf("agent %s not in the workers list: %+v", a.id, workers)
			}
			if st := c.call("DELETE", "/agents/"+a.id, "", nil, nil); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
			if st := a.call("POST", "/agent/heartbeat", map[string]any{"hostname": "desk-a", "os": "linux", "version": "test", "labels": []string{}, "concurrency": 1}, nil); st != http.StatusUnauthorized {
				t.Errorf("revoked agent: %d, want 401", st)
			}
			var e struct {
				Detail string `json:"detail"`
			}
			if st := b.call("POST", "/agent/claim", map[string]any{"version": "0.1.0", "wait_seconds": 1}, &e); st != http.StatusConflict || !strings.Contains(e.Detail, "upgrade") {
				t.Logf("version check skipped on a dev hub: %d %q", st, e.Detail)
			}
		})
	}
}

// TestAgentLongPollsStayCheap: 50 agents long-polling park in the
// dispatcher, not in loops of their own: the API's goroutines and heap come
// back to where they were after each round, and while they wait every one
// of them is parked (no database connection, no polling).
func TestAgentLongPollsStayCheap(t *testing.T) {
	m, _ := startMain(t, "serve", map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"})
	base := "http://" + m.Addr.String() + "/api/v1"
	c := login(t, base, "admin", "admin-password-1")
	token := enrollmentToken(t, c, 0)
	const n = 50
	agents := make([]*agentHTTP, n)
	for i := range agents {
		agents[i] = enrollAgent(t, base, token, fmt.Sprintf("sim-%02d", i))
	}
	http.DefaultClient.CloseIdleConnections()
	settle := func() (int, uint64) {
		var ms runtime.MemStats
		for range 5 {
			runtime.GC()
			time.Sleep(50 * time.Millisecond)
		}
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	g0, h0 := settle()
	var peak int
	for round := range 2 {
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Go(func() {
				a.call("POST", "/agent/claim", map[string]any{"version": "test", "wait_seconds": 6}, nil)
			})
		}
		deadline := time.Now().Add(5 * time.Second)
		for m.agents.Waiting() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if w := m.agents.Waiting(); w != n {
			t.Errorf("round %d: %d agents parked, want %d", round, w, n)
		}
		peak = max(peak, runtime.NumGoroutine())
		wg.Wait()
		http.DefaultClient.CloseIdleConnections()
	}
	g1, h1 := settle()
	t.Logf("goroutines: %d before, %d at most while %d agents waited, %d after; heap %d KiB before, %d KiB after", g0, peak, n, g1, h0>>10, h1>>10)
	// Each waiting agent costs its connection's and its request's
	// goroutines on both ends of this test process, and nothing more.
	if peak-g0 > n*8 {
		t.Errorf("%d goroutines for %d waiting agents", peak-g0, n)
	}
	if g1 > g0+10 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if h1 > h0+16<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB", h0>>10, h1>>10)
	}
}
