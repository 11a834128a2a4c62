package main

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestUIAgents: an administrator creates an enrolment token on the agents
// page (shown once, with the command line to use), an agent enrols with it
// and is listed, and revoking it from the page cuts it off.
func TestUIAgents(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			_, base := startUIHub(t, db, nil)
			ui := uiLogin(t, base, "admin", "admin-password-1")
			code, body := ui.get("/admin/agents")
			if code != 200 || !strings.Contains(body, `id="token-form"`) || !strings.Contains(body, `href="/admin/agents"`) {
				t.Fatalf("agents page: %d", code)
			}
			if code, body := ui.post("/admin/agents/tokens", url.Values{"name": {"desks"}, "max_uses": {"0"}}); code != 400 {
				t.Errorf("max_uses 0: %d\n%s", code, body)
			}
			code, body = ui.post("/admin/agents/tokens", url.Values{"name": {"desks"}, "max_uses": {"2"}, "expires_in_hours": {"4"}})
			token := regexp.MustCompile(`id="enrollment-token">(hubenroll_[A-Za-z0-9_-]+)<`).FindStringSubmatch(body)
			if code != 200 || token == nil || !strings.Contains(body, "hub agent --server") {
				t.Fatalf("create token: %d\n%s", code, body)
			}
			if _, again := ui.get("/admin/agents"); strings.Contains(again, token[1]) {
				t.Error("the token is shown again")
			}
			a := enrollAgent(t, base+"/api/v1", token[1], "desk-ui", "sap")
			_, body = ui.get("/admin/agents")
			if !strings.Contains(body, `data-agent="`+a.id+`"`) || !strings.Contains(body, "desk-ui") || !strings.Contains(body, ">sap<") {
				t.Fatalf("agent not listed:\n%s", body)
			}
			if code, _ := ui.post("/admin/agents/"+a.id+"/revoke", nil); code != 200 {
				t.Errorf("revoke: %d", code)
			}
			if st := a.call("POST", "/agent/claim", map[string]any{"version": "test", "wait_seconds": 0}, nil); st != 401 {
				t.Errorf("revoked agent's claim: %d, want 401", st)
			}
		})
	}
}
