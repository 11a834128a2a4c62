package executor

import (
	"context"
	"io/fs"
	"path/filepath"
	"time"
)

// diskEvery is how often a run's folder is measured. A walk that takes long
// (a run with very many files) spaces the next one out, so that measuring
// costs at most about a fifth of one core.
const diskEvery = time.Second

// diskWatch measures a run's folder while its robot runs and reports when
// the files in it pass the run's disk budget (RUN_MAX_DISK_BYTES).
type diskWatch struct {
	// over receives the measured bytes once, when they pass the limit.
	over   chan int64
	cancel context.CancelFunc
	done   chan struct{}
}

// watchDisk starts measuring root every diskEvery; its goroutine exits
// after reporting on over, or when stop is called.
func watchDisk(root string, limit int64) *diskWatch {
	ctx, cancel := context.WithCancel(context.Background())
	d := &diskWatch{over: make(chan int64, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		wait := diskEvery
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			start := time.Now()
			if used := diskUsage(root, limit); used > limit {
				d.over <- used
				return
			}
			wait = max(diskEvery, 4*time.Since(start))
		}
	}()
	return d
}

// stop ends the measuring and waits for its goroutine. Safe to call twice.
func (d *diskWatch) stop() {
	d.cancel()
	<-d.done
}

// diskUsage returns the sizes of the entries under root added up (files,
// folders and links themselves; links are not followed), stopping early once
// the sum passes limit. Entries that vanish or cannot be read meanwhile are
// skipped. It measures what a run writes in its folder, not blocks on disk:
// a sparse file counts whole.
func diskUsage(root string, limit int64) int64 {
	var used int64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			used += info.Size()
		}
		if used > limit {
			return fs.SkipAll
		}
		return nil
	})
	return used
}
