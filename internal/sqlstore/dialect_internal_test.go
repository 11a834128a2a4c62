package sqlstore

import "testing"

func TestPostgresRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{`SELECT "we?ird" FROM t WHERE x = ?`, `SELECT "we?ird" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"INSERT INTO t VALUES (?, 'it''s ?', ?)", "INSERT INTO t VALUES ($1, 'it''s ?', $2)"},
	}
	for _, tt := range tests {
		if got := (postgresDialect{}).rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := (sqliteDialect{}).rebind(tt.in); got != tt.in {
			t.Errorf("sqlite rebind changed %q to %q", tt.in, got)
		}
	}
}
