// Package cleanup enforces retention: old log lines and run artifacts are
// deleted in small batches (rows first, then files, through a journal so a
// crash never leaves rows pointing at nothing), and leftovers on disk —
// aborted uploads, working copies of finished runs, unused package caches —
// are removed. Only one cleanup touches the database at a time across the
// fleet; the local sweep runs on every host that runs it.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"automationhub/internal/hub"
	"automationhub/internal/pyenv"
)

// Store is the persistence cleanup needs (sqlstore).
type Store interface {
	TryLock(ctx context.Context, name string, lease time.Duration) (unlock func(), ok bool, err error)
	CountOldLogs(ctx context.Context, before time.Time) (int64, error)
	DeleteOldLogs(ctx context.Context, before time.Time, batch int) (int64, error)
	CountOldArtifacts(ctx context.Context, before time.Time) (rows, bytes int64, err error)
	OldArtifacts(ctx context.Context, before time.Time, limit int) ([]hub.Artifact, error)
	DeleteArtifacts(ctx context.Context, arts []hub.Artifact, now time.Time) error
	PendingFileDeletions(ctx context.Context, limit int) ([]string, error)
	FileDeleted(ctx context.Context, path string) error
	RunFinished(ctx context.Context, runID string) (bool, error)
	// EnvironmentsGone forgets what a worker reported about Python
	// environments this pass removed from its cache.
	EnvironmentsGone(ctx context.Context, workerID string, keys []string) error
}

// Blobs is the artifact store.
type Blobs interface {
	Stat(key string) (size int64, mod time.Time, err error)
	Delete(key string) error
	Leftovers(age time.Duration) ([]string, error)
}

// Observer receives what a pass removed (metrics); may be nil.
type Observer interface {
	Removed(kind string, rows, bytes int64)
	PassDone(d time.Duration, ok bool)
}

// Config holds the retention settings.
type Config struct {
	LogRetention      time.Duration // LOG_RETENTION_DAYS
	ArtifactRetention time.Duration // ARTIFACT_RETENTION_DAYS
	CacheRetention    time.Duration // WORKSPACE_CACHE_DAYS
	Interval          time.Duration // CLEANUP_INTERVAL_HOURS
	// WorkDir is this host's worker folder (package cache, working copies).
	WorkDir string
	// BatchSize bounds each DELETE statement (default 5000 rows).
	BatchSize int
	// UploadLeftoverAge is how old a temporary upload must be to be an
	// aborted one (default 24 h).
	UploadLeftoverAge time.Duration
	Clock             hub.Clock
	Logger            *slog.Logger
	Observer          Observer

	// PythonEnvBudget is the disk budget of the worker's Python
	// environments (PYTHON_ENV_CACHE_BYTES; 0: none): past it the least
	// recently used go, as do those unused for CacheRetention.
	PythonEnvBudget int64
	// WorkerID is the worker of this host whose reports on removed Python
	// environments are forgotten; "" for none.
	WorkerID string
}

// Kind names in reports and metrics.
const (
	KindLogs      = "logs"
	KindArtifacts = "artifacts"
	KindUploads   = "uploads"
	KindWorkCopy  = "working_copies"
	KindCache     = "package_cache"
	KindPythonEnv = "python_environments"
)

// Item counts what a pass removed (or, in a dry run, would remove) of one kind.
type Item struct {
	Rows, Files, Bytes int64
}

// Report is the outcome of one pass.
type Report struct {
	DryRun bool
	// Skipped is true when another process held the cleanup lock (the
	// database part was skipped; the local sweep still ran).
	Skipped  bool
	Kinds    map[string]*Item
	Duration time.Duration
}

func (r *Report) add(kind string, rows, files, bytes int64) {
	it := r.Kinds[kind]
	if it == nil {
		it = &Item{}
		r.Kinds[kind] = it
	}
	it.Rows += rows
	it.Files += files
	it.Bytes += bytes
}

// Cleaner runs retention passes.
type Cleaner struct {
	store Store
	blobs Blobs
	cfg   Config

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a cleaner.
func New(store Store, blobs Blobs, cfg Config) *Cleaner {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.UploadLeftoverAge == 0 {
		cfg.UploadLeftoverAge = 24 * time.Hour
	}
	if cfg.Interval == 0 {
		cfg.Interval = 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Cleaner{store: store, blobs: blobs, cfg: cfg}
}

// Start runs a pass now and then every Interval, in a goroutine that exits
// when Stop is called. Calling Start twice is a no-op.
func (c *Cleaner) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return nil
	}
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			if rep, err := c.Pass(ctx, false); err != nil {
				if ctx.Err() == nil {
					c.cfg.Logger.Error("cleanup pass failed", "error", err.Error())
				}
			} else {
				c.log(rep)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.cfg.Interval):
			}
		}
	}()
	return nil
}

// Stop ends the loop (interrupting a running pass between batches) and waits.
func (c *Cleaner) Stop(context.Context) error {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

func (c *Cleaner) log(rep *Report) {
	attrs := []any{"dry_run", rep.DryRun, "skipped_database", rep.Skipped, "duration", rep.Duration.Round(time.Millisecond)}
	for k, it := range rep.Kinds {
		attrs = append(attrs, slog.Group(k, "rows", it.Rows, "files", it.Files, "bytes", it.Bytes))
	}
	c.cfg.Logger.Info("cleanup pass done", attrs...)
}

// Pass does one round of retention. In a dry run nothing is changed and the
// report says what would go.
func (c *Cleaner) Pass(ctx context.Context, dryRun bool) (rep *Report, err error) {
	start := time.Now()
	rep = &Report{DryRun: dryRun, Kinds: map[string]*Item{}}
	defer func() {
		rep.Duration = time.Since(start)
		if c.cfg.Observer != nil && !dryRun {
			c.cfg.Observer.PassDone(rep.Duration, err == nil)
		}
	}()
	now := c.cfg.Clock.Now()
	unlock, ok, err := c.store.TryLock(ctx, "cleanup", 6*time.Hour)
	if err != nil {
		return rep, fmt.Errorf("cleanup lock: %w", err)
	}
	if ok {
		err = c.database(ctx, now, dryRun, rep)
		unlock()
		if err != nil {
			return rep, err
		}
	} else {
		rep.Skipped = true
	}
	if err := c.local(ctx, now, dryRun, rep); err != nil {
		return rep, err
	}
	if c.cfg.Observer != nil && !dryRun {
		for k, it := range rep.Kinds {
			c.cfg.Observer.Removed(k, it.Rows, it.Bytes)
		}
	}
	return rep, nil
}

// database removes old log rows and artifacts (rows, then files).
func (c *Cleaner) database(ctx context.Context, now time.Time, dryRun bool, rep *Report) error {
	logCutoff, artCutoff := now.Add(-c.cfg.LogRetention), now.Add(-c.cfg.ArtifactRetention)
	if dryRun {
		n, err := c.store.CountOldLogs(ctx, logCutoff)
		if err != nil {
			return err
		}
		rep.add(KindLogs, n, 0, 0)
		rows, bytes, err := c.store.CountOldArtifacts(ctx, artCutoff)
		if err != nil {
			return err
		}
		rep.add(KindArtifacts, rows, rows, bytes)
		return nil
	}
	// Files whose rows an earlier pass deleted (it may have crashed before the files).
	if err := c.drainJournal(ctx, rep); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := c.store.DeleteOldLogs(ctx, logCutoff, c.cfg.BatchSize)
		if err != nil {
			return err
		}
		rep.add(KindLogs, n, 0, 0)
		if n < int64(c.cfg.BatchSize) {
			break
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		arts, err := c.store.OldArtifacts(ctx, artCutoff, min(c.cfg.BatchSize, 1000))
		if err != nil {
			return err
		}
		if len(arts) == 0 {
			return nil
		}
		if err := c.store.DeleteArtifacts(ctx, arts, now); err != nil {
			return err
		}
		var bytes int64
		for _, a := range arts {
			bytes += a.Size
		}
		rep.add(KindArtifacts, int64(len(arts)), 0, bytes)
		if err := c.drainJournal(ctx, rep); err != nil {
			return err
		}
	}
}

// drainJournal removes queued files, then their journal entries.
func (c *Cleaner) drainJournal(ctx context.Context, rep *Report) error {
	for {
		paths, err := c.store.PendingFileDeletions(ctx, 1000)
		if err != nil {
			return err
		}
		if len(paths) == 0 {
			return nil
		}
		for _, p := range paths {
			if _, _, err := c.blobs.Stat(p); err == nil {
				rep.add(KindArtifacts, 0, 1, 0) // bytes were counted with the rows
			}
			if err := c.blobs.Delete(p); err != nil {
				return fmt.Errorf("delete %s: %w", p, err)
			}
			if err := c.store.FileDeleted(ctx, p); err != nil {
				return err
			}
		}
	}
}

// local sweeps this host's disk: aborted uploads, working copies of finished
// runs, and package caches unused for CacheRetention.
func (c *Cleaner) local(ctx context.Context, now time.Time, dryRun bool, rep *Report) error {
	if c.blobs != nil {
		left, err := c.blobs.Leftovers(c.cfg.UploadLeftoverAge)
		if err != nil {
			return err
		}
		for _, p := range left {
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			if !dryRun {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			rep.add(KindUploads, 0, 1, st.Size())
		}
	}
	if c.cfg.WorkDir == "" {
		return nil
	}
	runsDir := filepath.Join(c.cfg.WorkDir, "runs")
	entries, _ := os.ReadDir(runsDir)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		done, err := c.store.RunFinished(ctx, e.Name())
		if err != nil {
			return err
		}
		if !done {
			continue // never touch a run that is not finished
		}
		if err := c.removeTree(filepath.Join(runsDir, e.Name()), KindWorkCopy, dryRun, rep); err != nil {
			return err
		}
	}
	cacheDir := filepath.Join(c.cfg.WorkDir, "cache")
	entries, _ = os.ReadDir(cacheDir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || now.Sub(info.ModTime()) < c.cfg.CacheRetention {
			continue
		}
		if err := c.removeTree(filepath.Join(cacheDir, e.Name()), KindCache, dryRun, rep); err != nil {
			return err
		}
	}
	// Python environments in use (a run holds them) are never removed.
	gone, err := pyenv.Sweep(filepath.Join(c.cfg.WorkDir, "pyenv"), now, c.cfg.CacheRetention, c.cfg.PythonEnvBudget, dryRun)
	var keys []string
	for _, g := range gone {
		rep.add(KindPythonEnv, 0, 1, g.Bytes)
		if g.Why != "leftover" {
			keys = append(keys, g.Key)
		}
	}
	if !dryRun && c.cfg.WorkerID != "" && len(keys) > 0 {
		if gerr := c.store.EnvironmentsGone(ctx, c.cfg.WorkerID, keys); gerr != nil && err == nil {
			err = gerr
		}
	}
	if err != nil {
		return fmt.Errorf("cleanup: python environments: %w", err)
	}
	return nil
}

func (c *Cleaner) removeTree(dir, kind string, dryRun bool, rep *Report) error {
	var files, bytes int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	if !dryRun {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	rep.add(kind, 0, files, bytes)
	return nil
}
