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
}

type sqliteDialect struct{}

func (sqliteDialect) name() string               { return "sqlite" }
func (sqliteDialect) rebind(query string) string { return query }
func (sqliteDialect) forUpdate() string          { return "" }

type postgresDialect struct{}

func (postgresDialect) name() string      { return "postgres" }
func (postgresDialect) forUpdate() string { return " FOR UPDATE" }

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
