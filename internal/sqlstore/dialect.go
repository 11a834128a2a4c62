package sqlstore

import (
	"strconv"
	"strings"
)

// dialect isolates the few places where SQLite and PostgreSQL differ. Every
// business query is written once with `?` placeholders.
type dialect interface {
	name() string
	// rebind rewrites `?` placeholders into the dialect's form.
	rebind(query string) string
	// forUpdate is the row-lock suffix of a SELECT inside a transaction
	// (SQLite needs none: its write transactions lock the database at BEGIN).
	forUpdate() string
	// skipLocked locks the selected rows and skips rows another
	// transaction holds (SQLite: nothing, its writer is alone).
	skipLocked() string
	// lockRow locks rows against other lockers without blocking foreign-key
	// checks of inserts that reference them (SQLite: nothing).
	lockRow() string
	// artifactsJSON is a scalar subquery giving the artifacts of run r as a
	// JSON array of hub.Artifact (NULL or [] when it has none).
	artifactsJSON() string
	// grantsJSON is a scalar subquery giving the grants of the user row
	// `users` as a JSON array of hub.Grant (NULL or [] when none).
	grantsJSON() string
	// robotTagsJSON is a scalar subquery giving the tags of the robot whose
	// id is the column col as a JSON array of strings (NULL or [] when none).
	robotTagsJSON(col string) string
}

// grantFields are the JSON keys and columns of a grant (hub.Grant's names).
const grantFields = `'ID', p.id, 'UserID', p.user_id, 'ResourceType', p.resource_type, 'ResourceID', p.resource_id,
	'ScopeTag', p.scope_tag, 'Action', p.action, 'CreatedAt', p.created_at`

// artifactFields are the JSON keys and columns of an artifact, for the
// dialects' JSON object builders; keys match hub.Artifact's field names.
const artifactFields = `'ID', a.id, 'RunID', a.run_id, 'Name', a.artifact_name, 'Path', a.file_path,
	'Size', a.file_size_bytes, 'ContentType', a.content_type, 'SHA256', a.sha256, 'CreatedAt', a.created_at`

type sqliteDialect struct{}

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) rebind(query string) string { return query }
func (sqliteDialect) forUpdate() string          { return "" }
func (sqliteDialect) skipLocked() string         { return "" }
func (sqliteDialect) lockRow() string            { return "" }
func (sqliteDialect) grantsJSON() string {
	return `(SELECT json_group_array(json_object(` + grantFields + `)) FROM
		(SELECT * FROM permissions WHERE user_id = users.id ORDER BY resource_type, action, id) p)`
}
func (sqliteDialect) robotTagsJSON(col string) string {
	return `(SELECT json_group_array(tag) FROM (SELECT tag FROM robot_tags WHERE robot_id = ` + col + ` ORDER BY tag))`
}
func (sqliteDialect) artifactsJSON() string {
	return `(SELECT json_group_array(json_object(` + artifactFields + `)) FROM
		(SELECT * FROM artifacts WHERE run_id = r.run_id ORDER BY artifact_name, id) a)`
}

type postgresDialect struct{}

func (postgresDialect) name() string       { return "postgres" }
func (postgresDialect) forUpdate() string  { return " FOR UPDATE" }
func (postgresDialect) skipLocked() string { return " FOR UPDATE SKIP LOCKED" }
func (postgresDialect) lockRow() string    { return " FOR NO KEY UPDATE" }
func (postgresDialect) grantsJSON() string {
	return `(SELECT json_agg(json_build_object(` + grantFields + `) ORDER BY p.resource_type, p.action, p.id)
		FROM permissions p WHERE p.user_id = users.id)`
}
func (postgresDialect) robotTagsJSON(col string) string {
	return `(SELECT json_agg(tag ORDER BY tag) FROM robot_tags WHERE robot_id = ` + col + `)`
}
func (postgresDialect) artifactsJSON() string {
	return `(SELECT json_agg(json_build_object(` + artifactFields + `) ORDER BY a.artifact_name, a.id)
		FROM artifacts a WHERE a.run_id = r.run_id)`
}

// rebind turns each `?` outside quotes and comments into $1, $2, …
func (postgresDialect) rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	inSingle, inDouble, inLineComment := false, false, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case inLineComment:
			if c == '\n' {
				inLineComment = false
			}
		case inSingle:
			if c == '\'' {
				inSingle = false
			}
		case inDouble:
			if c == '"' {
				inDouble = false
			}
		case c == '\'':
			inSingle = true
		case c == '"':
			inDouble = true
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			inLineComment = true
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
