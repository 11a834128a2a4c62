package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"automationhub/internal/bus"
	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// Pump batching: a batch is written when it holds pumpBatch lines or is
// pumpInterval old. The input buffer bounds how far a robot can run ahead of
// the database before its writes block (no line is ever dropped).
const (
	pumpBatch    = 1000
	pumpInterval = 100 * time.Millisecond
	pumpBuffer   = 8192
)

// pump stores a run's log lines in batches (one statement each), appends
// them to run.log, and publishes each stored batch on the run's topic. Its
// goroutine exits when close is called and everything is written.
type pump struct {
	state  RunState
	bus    Bus
	runID  string
	clock  hub.Clock
	log    *slog.Logger
	file   *os.File
	in     chan hub.LogLine
	done   chan struct{}
	seq    int64 // last assigned seq; owned by the goroutine until done
	mu     sync.Mutex
	closed bool
	lines  int64
}

func newPump(state RunState, b Bus, runID string, lastSeq int64, logPath string, clock hub.Clock, log *slog.Logger) (*pump, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	p := &pump{state: state, bus: b, runID: runID, clock: clock, log: log, file: f,
		in: make(chan hub.LogLine, pumpBuffer), done: make(chan struct{}), seq: lastSeq}
	go p.loop()
	return p, nil
}

// add queues one line; it blocks only while the buffer is full.
func (p *pump) add(level, msg string) {
	p.in <- hub.LogLine{RunID: p.runID, Timestamp: p.clock.Now(), Level: level, Message: msg}
}

func (p *pump) loop() {
	defer close(p.done)
	batch := make([]hub.LogLine, 0, pumpBatch)
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
			if len(batch) < pumpBatch {
				continue
			}
		case <-timer.C:
		}
		p.flush(batch)
		batch = batch[:0]
		timer.Reset(pumpInterval)
	}
}

// flush stores one batch, retrying until the database accepts it: the
// robot's output is what the run is for.
func (p *pump) flush(batch []hub.LogLine) {
	if len(batch) == 0 {
		return
	}
	for i := range batch {
		p.seq++
		batch[i].Seq = p.seq
	}
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		err := p.state.AppendLogs(ctx, batch)
		if err == nil {
			break
		}
		p.log.Warn("storing log lines failed; retrying", "run_id", p.runID, "lines", len(batch), "error", err.Error())
		time.Sleep(min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second))
	}
	writeRunLog(p.file, batch)
	p.lines += int64(len(batch))
	if err := p.bus.Publish(ctx, bus.LogTopic(p.runID), runs.EncodeLogBatch(batch)); err != nil {
		p.log.Debug("publishing log lines failed (viewers catch up from the database)", "run_id", p.runID, "error", err.Error())
	}
}

func writeRunLog(f *os.File, lines []hub.LogLine) {
	buf := make([]byte, 0, 64*len(lines))
	for _, l := range lines {
		buf = append(buf, l.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")...)
		buf = append(buf, " ["...)
		buf = append(buf, l.Level...)
		buf = append(buf, "] "...)
		buf = append(buf, l.Message...)
		buf = append(buf, '\n')
	}
	_, _ = f.Write(buf)
}

// close drains and writes everything queued, then returns the last seq used.
func (p *pump) close() int64 {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.in)
	}
	p.mu.Unlock()
	<-p.done
	return p.seq
}
