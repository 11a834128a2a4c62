package hub

import (
	"strings"
	"time"
)

// APITokenPrefix starts every API token, so that secret scanners recognise
// one wherever it leaks.
const APITokenPrefix = "hub_"

// IsAPIToken reports whether raw has the form of an API token (not a JWT).
func IsAPIToken(raw string) bool { return strings.HasPrefix(raw, APITokenPrefix) }

// APIToken is a long-lived credential of a user or service account. Only a
// hash of the token is stored; the token itself is shown once.
type APIToken struct {
	ID     string
	UserID string
	Name   string
	// Hash is the hex SHA-256 of the token.
	Hash string
	// Hint is the token's start (prefix and a few characters), to recognise it.
	Hint string
	// Permissions the token may use: a subset of its user's, which are
	// checked again on every request.
	Permissions []Permission
	// RobotID or ScopeTag narrow the token to one robot or the robots with
	// a tag; RobotTags are the tags of RobotID, read with the token.
	RobotID    *string
	ScopeTag   *string
	RobotTags  []string
	ExpiresAt  *time.Time
	CreatedAt  time.Time
	CreatedBy  *string
	LastUsedAt *time.Time
}

// Expired reports whether the token has expired at now.
func (t *APIToken) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}
