package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"automationhub/internal/bus"
	"automationhub/internal/httpapi"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/runs"
)

// queuedRun creates a robot with a package and queues a run (no worker runs it).
func queuedRun(t testing.TB, b apiBundle) string {
	t.Helper()
	id := b.newRobot(t, "ws-robot")
	ct, body := multipartBody(t, map[string]string{"version": "1.1.0", "channel": "stable"}, "artifact.zip", robotZip(t))
	if rec := b.call(t, "maintainer", http.MethodPost, "/api/v1/robots/"+id+"/versions/publish", ct, string(body)); rec.Code != 201 {
		t.Fatalf("publish: %d %s", rec.Code, rec.Body)
	}
	rec := b.call(t, "operator", http.MethodPost, "/api/v1/runs/"+id+"/execute", "application/json", `{"runtime_arguments":["--x"]}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("execute: %d %s", rec.Code, rec.Body)
	}
	var r map[string]any
	jsonBody(t, rec.Body.Bytes(), &r)
	return r["run_id"].(string)
}

// runningRun queues a run and claims it for worker "w", as a worker that
// started it would.
func runningRun(t testing.TB, b apiBundle) string {
	t.Helper()
	runID := queuedRun(t, b)
	now := time.Now().UTC()
	if _, ok, err := b.db.ClaimRun(context.Background(), runID, "w", "h", now, now.Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	return runID
}

// fakeWorker writes n log lines in batches like the worker's pump does.
func fakeWorker(t *testing.T, b apiBundle, runID string, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i += 100 {
		var batch []hub.LogLine
		for j := i; j < min(i+100, from+n); j++ {
			batch = append(batch, hub.LogLine{RunID: runID, Seq: int64(j + 1), Timestamp: time.Now().UTC(), Level: hub.LevelInfo, Message: fmt.Sprintf("line %d", j+1)})
		}
		if err := b.db.AppendLogs(ctx, batch); err != nil {
			t.Error(err)
			return
		}
		b.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeLogBatch(batch))
	}
}

type frame struct {
	Type      string `json:"type"`
	Status    string `json:"status"`
	Seq       int64  `json:"seq"`
	RunID     string `json:"run_id"`
	Message   string `json:"message"`
	Level     string `json:"level"`
	Timestamp string `json:"timestamp"`
	LastSeq   *int64 `json:"last_seq"`
}

func dial(t testing.TB, url, token string, viaQuery bool) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	if viaQuery {
		if strings.Contains(url, "?") {
			url += "&token=" + token
		} else {
			url += "?token=" + token
		}
	} else {
		opts.Subprotocols = []string{"bearer", token}
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if c != nil {
		c.SetReadLimit(1 << 20)
	}
	return c, err
}

func TestLogStream(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			srv := httptest.NewServer(b.h)
			defer srv.Close()
			runID := runningRun(t, b)
			ctx := context.Background()
			base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/ws/runs/" + runID + "/logs"

			// Rejections are close codes after the handshake.
			for _, tc := range []struct {
				url, token string
				want       websocket.StatusCode
			}{
				{base, "", 4401},
				{base, "garbage", 4401},
				{strings.Replace(base, runID, "00000000-0000-0000-0000-000000000000", 1), b.tokens["viewer"], 4404},
				{base, b.tokens["tagscoped"], 4403},
			} {
				c, err := dial(t, tc.url, tc.token, true)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				_, _, err = c.Read(ctx)
				if got := websocket.CloseStatus(err); got != tc.want {
					t.Errorf("token %q: close %d (%v), want %d", tc.token, got, err, tc.want)
				}
				c.CloseNow()
			}

			// First viewer: lines written before and while it watches.
			fakeWorker(t, b, runID, 0, 1500)
			c, err := dial(t, base+"?after_seq=0", b.tokens["viewer"], false)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); fakeWorker(t, b, runID, 1500, 1500) }()
			var last int64
			read := func(c *websocket.Conn, upTo int64) {
				for last < upTo {
					_, data, err := c.Read(ctx)
					if err != nil {
						t.Fatalf("read after seq %d: %v", last, err)
					}
					var f frame
					json.Unmarshal(data, &f)
					if f.Seq != last+1 || f.Message != fmt.Sprintf("line %d", f.Seq) || f.RunID != runID {
						t.Fatalf("frame %+v after seq %d: out of order or duplicated", f, last)
					}
					last = f.Seq
				}
			}
			read(c, 2000)
			c.CloseNow() // the viewer's connection drops
			<-done
			// Reconnect from where it left off; more lines keep coming.
			c, err = dial(t, base+fmt.Sprintf("?after_seq=%d", last), b.tokens["viewer"], true)
			if err != nil {
				t.Fatal(err)
			}
			go fakeWorker(t, b, runID, 3000, 500)
			read(c, 3500)
			// The run ends: a status frame, then a normal close.
			res := hub.RunResult{Status: hub.RunSuccess, FinishedAt: time.Now().UTC()}
			final := []hub.LogLine{{RunID: runID, Seq: 3501, Timestamp: res.FinishedAt, Level: hub.LevelInfo, Message: "line 3501"}}
			if ok, err := b.db.FinishRun(ctx, runID, "w", res, final, nil); !ok || err != nil {
				t.Fatal(ok, err)
			}
			b.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeStatus(runID, hub.RunSuccess))
			read(c, 3501)
			_, data, err := c.Read(ctx)
			var f frame
			json.Unmarshal(data, &f)
			if err != nil || f.Type != "status" || f.Status != hub.RunSuccess {
				t.Fatalf("final frame %s, %v; want a SUCCESS status frame", data, err)
			}
			// Clients that show every frame as a line can show this one too.
			if f.Level != hub.LevelInfo || f.Message != "Run finished with status SUCCESS." || f.Timestamp == "" || f.LastSeq == nil || *f.LastSeq != 3501 {
				t.Errorf("status frame %s: want level INFO, a message, a timestamp and last_seq 3501", data)
			}
			_, _, err = c.Read(ctx)
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("close after status: %v, want normal closure", err)
			}

			// A viewer of a finished run gets the last 500 lines, the status, and a close.
			c, err = dial(t, base, b.tokens["admin"], true)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
						t.Errorf("finished-run stream ended with %v", err)
					}
					break
				}
				var g frame
				json.Unmarshal(data, &g)
				if g.Type == "" {
					n++
				}
			}
			if n != 500 {
				t.Errorf("backlog of a finished run = %d lines, want the last 500", n)
			}
		})
	}
}

// TestLogStreamEndsAfterItsTail: the live messages of most of a run's lines
// were lost (a slow or dropped transport) and the run has ended; the stream
// must still send every stored line before the status frame, whose last_seq
// names the final line.
func TestLogStreamEndsAfterItsTail(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			srv := httptest.NewServer(b.h)
			defer srv.Close()
			runID := runningRun(t, b)
			ctx := context.Background()
			fakeWorker(t, b, runID, 0, 1000)
			c, err := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws/runs/"+runID+"/logs?after_seq=0", b.tokens["viewer"], false)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			// 4 000 more lines are stored but never published, then the run ends.
			var tail []hub.LogLine
			for i := 1001; i <= 5000; i++ {
				tail = append(tail, hub.LogLine{RunID: runID, Seq: int64(i), Timestamp: time.Now().UTC(), Level: hub.LevelInfo, Message: fmt.Sprintf("line %d", i)})
			}
			if err := b.db.AppendLogs(ctx, tail); err != nil {
				t.Fatal(err)
			}
			res := hub.RunResult{Status: hub.RunFailed, FinishedAt: time.Now().UTC()}
			if ok, err := b.db.FinishRun(ctx, runID, "w", res, []hub.LogLine{{RunID: runID, Seq: 5001, Timestamp: res.FinishedAt, Level: hub.LevelError, Message: "line 5001"}}, nil); !ok || err != nil {
				t.Fatal(ok, err)
			}
			b.bus.Publish(ctx, bus.LogTopic(runID), runs.EncodeStatus(runID, hub.RunFailed))
			var last int64
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("read after seq %d: %v", last, err)
				}
				var f frame
				json.Unmarshal(data, &f)
				if f.Type == "status" {
					if last != 5001 || f.LastSeq == nil || *f.LastSeq != 5001 || f.Message != "Run finished with status FAILED." {
						t.Errorf("status frame %s after seq %d; want it after line 5001 with last_seq 5001", data, last)
					}
					return
				}
				if f.Seq != last+1 {
					t.Fatalf("frame seq %d after %d: gap or duplicate", f.Seq, last)
				}
				last = f.Seq
			}
		})
	}
}

// TestLogStreamRechecksItsCaller opens streams of a run that keeps running
// and takes the caller's access away while they are open: each stream must
// close, with 4401 when the caller can no longer authenticate and 4403
// when only the permission is gone.
func TestLogStreamRechecksItsCaller(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPIWith(t, dialect, 1<<20, func(d *httpapi.Deps) { d.LogRecheck = 10 * time.Millisecond })
			srv := httptest.NewServer(b.h)
			defer srv.Close()
			runID := runningRun(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fakeWorker(t, b, runID, 0, 1)
			admin, err := b.ids.Authenticate(ctx, b.tokens["admin"], "")
			if err != nil {
				t.Fatal(err)
			}
			no, none := false, hub.RoleNone
			for _, tc := range []struct {
				name   string
				change identity.UserChanges
				want   websocket.StatusCode
			}{
				{"deactivated", identity.UserChanges{IsActive: &no}, 4401},
				{"password reset", identity.UserChanges{Password: ptr("another-password")}, 4401},
				{"role taken away", identity.UserChanges{Role: &none}, 4403},
			} {
				t.Run(tc.name, func(t *testing.T) {
					name := "watcher-" + strings.ReplaceAll(tc.name, " ", "-")
					u, err := b.ids.CreateUser(ctx, admin, identity.NewUser{Username: name, Password: "password-" + name, Role: hub.RoleViewer})
					if err != nil {
						t.Fatal(err)
					}
					tok, err := b.ids.Login(ctx, name, "password-"+name, "")
					if err != nil {
						t.Fatal(err)
					}
					c, err := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws/runs/"+runID+"/logs?after_seq=0", tok, false)
					if err != nil {
						t.Fatal(err)
					}
					defer c.CloseNow()
					if _, _, err := c.Read(ctx); err != nil {
						t.Fatalf("first line: %v", err)
					}
					if _, err := b.ids.UpdateUser(ctx, admin, u.ID, tc.change); err != nil {
						t.Fatal(err)
					}
					_, _, err = c.Read(ctx)
					if got := websocket.CloseStatus(err); got != tc.want {
						t.Errorf("stream ended with %v (close %d), want close %d", err, got, tc.want)
					}
				})
			}
		})
	}
}

// TestLogStreamOrigins: the API's socket authenticates with a token, so
// browsers may open it from the origins of CORS_ORIGINS as well as from
// its own; any other origin is refused at the handshake.
func TestLogStreamOrigins(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/ws/runs/" + uuid.NewString() + "/logs"
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{srv.URL, true},
		{"http://localhost:3000", true}, // the default CORS_ORIGINS
		{"http://localhost:3001", false},
		{"https://evil.example", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{"bearer", b.tokens["viewer"]}})
		switch {
		case tc.ok && err != nil:
			t.Errorf("origin %q: %v, want the handshake accepted", tc.origin, err)
		case tc.ok:
			// Accepted, then closed: the run does not exist.
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != 4404 {
				t.Errorf("origin %q: %v, want close 4404", tc.origin, err)
			}
		case err == nil || resp == nil || resp.StatusCode != http.StatusForbidden:
			t.Errorf("origin %q: %v, want the handshake refused with 403", tc.origin, err)
		}
		if c != nil {
			c.CloseNow()
		}
		cancel()
	}
}
