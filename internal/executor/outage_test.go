package executor_test

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"automationhub/internal/bus/redisbus"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/registry"
	"automationhub/internal/runs"
)

// privateRedis runs a throw-away redis-server on a free port (a real one,
// which this test stops and starts again).
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if hubtest.RequireServices() {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &privateRedis{t: t, port: port, dir: t.TempDir()}
	r.start(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) start(bin string) {
	r.cmd = exec.Command(bin, "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *privateRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// TestRedisOutage stops Redis while runs are requested: every run still
// executes, exactly once, after Redis returns.
func TestRedisOutage(t *testing.T) {
	rs := startPrivateRedis(t)
	bin, _ := exec.LookPath("redis-server")
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	rb, err := redisbus.New(client, redisbus.Options{QueueKey: "hub:test:queue", ChannelPrefix: "hub:test", RedeliverAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	e := setupWithBus(t, hubtest.Dialects()[0], rb, opts{})
	id := e.robot(t, "outage-robot", map[string]string{"run.sh": "#!/bin/sh\necho ran\n"}, registry.PublishInput{EntrypointType: "EXE", EntrypointPath: "run.sh"})
	// Warm up: one run with Redis up.
	if r := e.wait(t, e.execute(t, id, runs.ExecuteInput{}).ID, 30*time.Second); r.Status != hub.RunSuccess {
		t.Fatalf("warm-up run %s", r.Status)
	}
	rs.stop()
	var ids []string
	for range 5 {
		ids = append(ids, e.execute(t, id, runs.ExecuteInput{}).ID) // the signal fails; the row is there
	}
	time.Sleep(time.Second)
	rs.start(bin)
	for _, rid := range ids {
		if r := e.wait(t, rid, 60*time.Second); r.Status != hub.RunSuccess {
			t.Errorf("run %s after the outage: %s", rid, r.Status)
		}
		lines := messages(e.logs(t, rid))
		if n := strings.Count(strings.Join(lines, "\n"), "Execution started."); n != 1 {
			t.Errorf("run %s executed %d times", rid, n)
		}
	}
}
