package hub

import (
	"strings"
	"time"
)

// Prefixes of the credentials of remote agents, so that secret scanners
// recognise them and they never pass for an API token.
const (
	EnrollmentTokenPrefix = "hubenroll_"
	AgentCredentialPrefix = "hubagent_"
)

// IsAgentCredential reports whether raw has the form of an agent's credential.
func IsAgentCredential(raw string) bool { return strings.HasPrefix(raw, AgentCredentialPrefix) }

// EnrollmentToken lets remote agents join the hub. Only its hash is kept;
// the token itself is shown once.
type EnrollmentToken struct {
	ID, Name string
	// Hash is the hex SHA-256 of the token; Hint its first characters.
	Hash, Hint string
	// MaxUses is how many agents may enrol with it; nil: any number.
	MaxUses   *int
	Uses      int
	ExpiresAt *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	CreatedBy *string
}

// Usable reports whether an agent may enrol with the token at now.
func (t *EnrollmentToken) Usable(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt)) && (t.MaxUses == nil || t.Uses < *t.MaxUses)
}

// Agent is a remote worker that reaches the hub over HTTPS with a
// credential of its own; its ID is its worker id.
type Agent struct {
	ID, Name string
	// Hash is the hex SHA-256 of its credential.
	Hash                  string
	Hostname, OS, Version string
	Labels                []string
	EnrollmentTokenID     *string
	CreatedAt             time.Time
	RevokedAt, LastSeenAt *time.Time
}
