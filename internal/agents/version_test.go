package agents_test

import (
	"strings"
	"testing"

	"automationhub/internal/agents"
	"automationhub/internal/hub"
)

func TestCheckVersion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		hub, agent string
		ok         bool
		upgrade    string // what the message tells to upgrade
	}{
		{"1.4.0", "1.4.0", true, ""},
		{"1.4.2", "1.4.0", true, ""},
		{"1.4.0", "1.3.9", true, ""}, // one minor behind keeps working
		{"v1.4.0", "1.3.0-rc.1", true, ""},
		{"1.4.0", "1.2.0", false, "upgrade the agent to 1.3"},
		{"2.0.0", "1.9.0", false, "upgrade the agent to 2.0"},
		{"1.4.0", "1.5.0", false, "upgrade the hub to 1.5"},
		{"1.4.0", "2.0.0", false, "upgrade the hub to 2.0"},
		{"dev", "1.0.0", true, ""},
		{"1.4.0", "dev", true, ""},
	}
	for _, c := range cases {
		err := agents.CheckVersion(c.hub, c.agent)
		if (err == nil) != c.ok {
			t.Errorf("hub %s, agent %s: %v, want ok=%v", c.hub, c.agent, err, c.ok)
			continue
		}
		if err != nil && (hub.ErrorKind(err) != hub.EConflict || !strings.Contains(hub.ErrorMessage(err), c.upgrade)) {
			t.Errorf("hub %s, agent %s: %q, want it to say %q", c.hub, c.agent, hub.ErrorMessage(err), c.upgrade)
		}
	}
}
