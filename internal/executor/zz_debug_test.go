//go:build unix

package executor_test

import (
	"testing"
	"time"
	"os/exec"
	"strconv"

	"automationhub/internal/executor"
)

func TestZZDebug(t *testing.T) {
	c := shell(t, "sleep 100")
	c.GracePeriod = time.Second
	p, _ := executor.Start(c)
	out, _ := exec.Command("ps", "-o", "pid,pgid,stat,comm", "-g", itoa(p.Pid())).CombinedOutput()
	t.Logf("%s", out)
	s := time.Now()
	p.Stop()
	t.Log(time.Since(s))
	t.Log(p.Wait())
}
func itoa(i int) string { return strconv.Itoa(i) }
