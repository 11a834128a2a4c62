// Package audit builds audit events — who did what to which object, from
// where — with secrets stripped from their metadata. Events are written by the
// store in the same transaction as the change they describe, so an audited
// change and its event are never separated.
package audit

import (
	"strings"
	"time"

	"automationhub/internal/hub"
)

// sensitive key fragments: metadata values under such keys are replaced.
var sensitive = []string{"password", "secret", "token", "credential", "private", "api_key", "apikey"}

// Redacted is what replaces a sensitive metadata value.
const Redacted = "[redacted]"

// Event builds an audit event by actor p (nil for the system) at now.
// Metadata values under keys that look secret are replaced by Redacted,
// recursively.
func Event(p *hub.Principal, action, targetType, targetID string, meta map[string]any, now time.Time) *hub.AuditEvent {
	ev := &hub.AuditEvent{
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		Metadata:   redact(meta),
		CreatedAt:  now,
	}
	if p != nil {
		ev.ActorUserID = p.UserID()
		if p.User == nil && p.Subject != "" {
			s := p.Subject
			ev.ActorSubject = &s
		}
		if p.ClientIP != "" {
			ip := p.ClientIP
			ev.IP = &ip
		}
		if p.Token != nil {
			// What was done with an API token names it (its id, not its value).
			ev.Metadata["authenticated_with"] = "api_token " + p.Token.ID
		}
	}
	return ev
}

func redact(meta map[string]any) map[string]any {
	out := make(map[string]any, len(meta))
	for k, v := range meta {
		if isSensitive(k) {
			out[k] = Redacted
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			out[k] = redact(x)
		case map[string]string:
			m := make(map[string]any, len(x))
			for kk, vv := range x {
				m[kk] = vv
			}
			out[k] = redact(m)
		default:
			out[k] = v
		}
	}
	return out
}

func isSensitive(key string) bool {
	k := strings.ToLower(key)
	for _, s := range sensitive {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
