package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"automationhub/internal/hub"
)

// Pump batching: a batch is written when it holds pumpBatch lines or
// pumpBatchBytes of text, or is pumpInterval old. A quiet robot's lines
// are stored within pumpInterval; under load batches grow to thousands of
// lines, so the per-transaction cost (lease check, commit) is paid rarely
// and the database stores them at its bulk speed (COPY on PostgreSQL, one
// statement per batch on SQLite). The input buffer bounds how far a robot
// can run ahead of the database before its writes block (no line is ever
// dropped); together the buffer and one batch bound the pump's memory.
const (
	pumpBatch      = 8192
	pumpBatchBytes = 4 << 20
	pumpInterval   = 100 * time.Millisecond
	pumpBuffer     = 8192
)

// pump stores a run's log lines in batches (one call each; the store
// publishes them to viewers) and appends them to run.log. Its
// goroutine exits when close is called and everything is written, or sooner
// when storing can no longer succeed: then it calls stop with the cause and
// discards what the robot still prints, so neither the robot nor close can
// block on it.
type pump struct {
	ctx      context.Context // cancelled when the worker gives up at shutdown
	state    RunState
	runID    string
	workerID string
	clock    hub.Clock
	log      *slog.Logger
	file     *os.File
	in       chan hub.LogLine
	done     chan struct{}
	// retryFor bounds how long one batch is retried while the database is
	// unreachable (the lease: after that the run is no longer this worker's).
	retryFor time.Duration
	stop     func(cause error)
	// mask hides the run's secrets in every line; set before the robot
	// starts writing, never changed after.
	mask   *Masker
	seq    int64 // last assigned seq; owned by the goroutine until done
	stored int64 // last seq known stored; owned by the goroutine until done
	failed bool  // owned by the goroutine: storing gave up
	mu     sync.Mutex
	closed bool
	lines  int64
}

// pumpOptions are the pump's collaborators beyond the store.
type pumpOptions struct {
	runID, workerID string
	lastSeq         int64
	logPath         string
	retryFor        time.Duration
	stop            func(cause error)
	clock           hub.Clock
	log             *slog.Logger
}

// errLogRefused wraps a store error that retrying cannot fix.
type errLogRefused struct{ err error }

func (e errLogRefused) Error() string {
	return "the run's log could not be stored: " + hub.ErrorMessage(e.err)
}
func (e errLogRefused) Unwrap() error { return e.err }

func newPump(ctx context.Context, state RunState, o pumpOptions) (*pump, error) {
	f, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	p := &pump{ctx: ctx, state: state, runID: o.runID, workerID: o.workerID, clock: o.clock, log: o.log, file: f,
		in: make(chan hub.LogLine, pumpBuffer), done: make(chan struct{}), seq: o.lastSeq, stored: o.lastSeq, retryFor: o.retryFor, stop: o.stop}
	go p.loop()
	return p, nil
}

// add queues one line; it blocks only while the buffer is full.
func (p *pump) add(level, msg string) {
	p.in <- hub.LogLine{RunID: p.runID, Timestamp: p.clock.Now(), Level: level, Message: p.mask.Mask(msg)}
}

func (p *pump) loop() {
	defer close(p.done)
	batch := make([]hub.LogLine, 0, pumpBatch)
	size := 0
	timer := time.NewTimer(pumpInterval)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.in:
			if !ok {
				p.flush(batch)
				return
			}
			batch = append(batch, l)
			size += len(l.Message)
			if len(batch) < pumpBatch && size < pumpBatchBytes {
				continue
			}
		case <-timer.C:
		}
		p.flush(batch)
		clear(batch) // let the stored messages go
		batch, size = batch[:0], 0
		timer.Reset(pumpInterval)
	}
}

// flush stores one batch. A failed write is retried (appends are idempotent
// by seq, so a write that succeeded unseen is harmless) until it succeeds,
// until retryFor has passed, or until the worker gives up; a batch refused
// for its content or for a full disk (a client kind), or a run no longer
// held, is not retried. Whenever storing
// gives up, the pump stops the robot with the cause and drops later lines.
func (p *pump) flush(batch []hub.LogLine) {
	if len(batch) == 0 || p.failed {
		return
	}
	for i := range batch {
		p.seq++
		batch[i].Seq = p.seq
	}
	deadline := time.Now().Add(p.retryFor)
	for attempt := 0; ; attempt++ {
		held, err := p.state.AppendRunLogs(p.ctx, p.runID, p.workerID, batch)
		switch {
		case err == nil && held:
			p.stored = p.seq
			writeRunLog(p.file, batch)
			p.lines += int64(len(batch))
			return
		case err == nil:
			p.giveUp(errLeaseLost)
			return
		case hub.ErrorKind(err) != hub.EInternal:
			p.log.Error("the database refused the run's log lines", "run_id", p.runID, "error", err.Error())
			p.giveUp(errLogRefused{err})
			return
		}
		wait := min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second)
		if time.Now().Add(wait).After(deadline) {
			p.log.Error("storing log lines kept failing; giving the run up", "run_id", p.runID, "retried_for", p.retryFor.String(), "error", err.Error())
			p.giveUp(errLeaseLost)
			return
		}
		p.log.Warn("storing log lines failed; retrying", "run_id", p.runID, "lines", len(batch), "error", err.Error())
		select {
		case <-p.ctx.Done():
			p.giveUp(errShutdown)
			return
		case <-time.After(wait):
		}
	}
}

// giveUp stops storing: the robot is stopped with cause and what it still
// prints is discarded.
func (p *pump) giveUp(cause error) {
	p.failed = true
	if p.stop != nil {
		p.stop(cause)
	}
}

func writeRunLog(f *os.File, lines []hub.LogLine) {
	buf := make([]byte, 0, 64*len(lines))
	for _, l := range lines {
		buf = append(buf, l.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")...)
		buf = append(buf, " ["...)
		buf = append(buf, l.Level...)
		buf = append(buf, "] "...)
		buf = appendOneLine(buf, l.Message)
		buf = append(buf, '\n')
	}
	_, _ = f.Write(buf)
}

// appendOneLine appends msg with its line breaks escaped, so one log line is
// one line of run.log whatever it holds.
func appendOneLine(buf []byte, msg string) []byte {
	if !strings.ContainsAny(msg, "\r\n") {
		return append(buf, msg...)
	}
	return append(buf, strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(msg)...)
}

// close drains and writes everything queued, then returns the last seq
// stored.
func (p *pump) close() int64 {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.in)
	}
	p.mu.Unlock()
	<-p.done
	return p.stored
}
