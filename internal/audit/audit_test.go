package audit_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
)

func TestEventRedactsSecretsAndRecordsActor(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &hub.Principal{User: &hub.User{ID: "u1"}, Subject: "u1", ClientIP: "10.0.0.1"}
	ev := audit.Event(p, "x.done", "robot", "r1", map[string]any{
		"name":         "bot",
		"password":     "hunter22",
		"DEPLOY_TOKEN": "abc",
		"env":          map[string]string{"API_KEY": "k", "REGION": "br"},
		"nested":       map[string]any{"client_secret": "s", "ok": 1},
		"private_key":  "-----BEGIN",
		"tags":         []string{"a"},
	}, now)
	want := map[string]any{
		"name": "bot", "password": audit.Redacted, "DEPLOY_TOKEN": audit.Redacted,
		"env":         map[string]any{"API_KEY": audit.Redacted, "REGION": "br"},
		"nested":      map[string]any{"client_secret": audit.Redacted, "ok": 1},
		"private_key": audit.Redacted, "tags": []string{"a"},
	}
	if diff := cmp.Diff(want, ev.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if *ev.ActorUserID != "u1" || ev.ActorSubject != nil || *ev.IP != "10.0.0.1" || ev.CreatedAt != now || ev.TargetID != "r1" {
		t.Errorf("event = %+v", ev)
	}
	// An Azure caller without a hub account is recorded by subject.
	az := audit.Event(&hub.Principal{Subject: "oid-1"}, "x", "", "", nil, now)
	if az.ActorUserID != nil || az.ActorSubject == nil || *az.ActorSubject != "oid-1" || az.IP != nil || az.Metadata == nil {
		t.Errorf("azure event = %+v", az)
	}
	sys := audit.Event(nil, "x", "", "", nil, now)
	if sys.ActorUserID != nil || sys.ActorSubject != nil || sys.IP != nil {
		t.Errorf("system event = %+v", sys)
	}
}
