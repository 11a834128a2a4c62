package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds the statement cache: queries are built from a
// fixed set of fragments, but a scope list or an IN clause can vary their
// text, and those beyond the bound simply run unprepared.
const maxCachedStmts = 512

// stmtCache keeps prepared statements of the reader pool by query text.
// database/sql prepares a cached statement again on each connection that
// runs it, once.
type stmtCache struct {
	pool *sql.DB
	d    dialect
	mu   sync.RWMutex
	m    map[string]*sql.Stmt
}

func newStmtCache(pool *sql.DB, d dialect) *stmtCache {
	return &stmtCache{pool: pool, d: d, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement of query, preparing it on first use;
// nil (run the query unprepared) when there is no cache, it is full, or
// preparing failed (the unprepared run reports the error).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	st, ok := c.m[query]
	full := len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if ok || full {
		return st
	}
	// The caller's context bounds the wait for a connection: a cancelled
	// request gives up here and runs (and fails) unprepared.
	st, err := c.pool.PrepareContext(ctx, c.d.rebind(query))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		st.Close()
		return old
	}
	if len(c.m) >= maxCachedStmts {
		st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for q, st := range c.m {
		err = errors.Join(err, st.Close())
		delete(c.m, q)
	}
	return err
}
