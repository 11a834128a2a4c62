package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"automationhub/internal/hub"
)

// spools holds one log spool per run.
type spools struct {
	c   *Client
	dir string
	max int64

	mu sync.Mutex
	m  map[string]*spool
}

func newSpools(c *Client, dir string, max int64) *spools {
	return &spools{c: c, dir: dir, max: max, m: map[string]*spool{}}
}

func (s *spools) get(runID string) *spool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.m[runID]; ok {
		return sp
	}
	sp := &spool{c: s.c, runID: runID, max: s.max, held: true, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{}), progress: make(chan struct{})}
	sp.open(s.dir)
	s.m[runID] = sp
	go sp.send()
	return sp
}

// drop ends a run's spool and removes its file.
func (s *spools) drop(runID string) {
	s.mu.Lock()
	sp, ok := s.m[runID]
	delete(s.m, runID)
	s.mu.Unlock()
	if ok {
		sp.close()
	}
}

// spool is one run's log lines on their way to the hub: appended to a file
// on disk (its undelivered part bounded by max bytes), and sent from it in
// order by one goroutine, in batches, each retried until the hub took it.
// Appends are idempotent on the hub by seq, so a batch sent again after a
// lost answer is stored once. Once everything is delivered the file is
// emptied.
type spool struct {
	c     *Client
	runID string
	max   int64
	path  string

	mu       sync.Mutex
	w, r     *os.File
	failed   error // the spool file could not be used
	written  int64 // bytes appended to the file
	sent     int64 // bytes delivered
	held     bool
	refused  error // the hub refused a batch for good
	progress chan struct{}

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func (sp *spool) open(dir string) {
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		sp.failed = err
		return
	}
	sp.path = filepath.Join(dir, sp.runID+".spool")
	w, err := os.OpenFile(sp.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		sp.failed = err
		return
	}
	r, err := os.Open(sp.path)
	if err != nil {
		w.Close()
		sp.failed = err
		return
	}
	sp.w, sp.r = w, r
}

// append queues lines; an error asks the caller to try again later (the
// spool is full) or says the hub refused the run's lines.
func (sp *spool) append(lines []hub.LogLine) (bool, error) {
	arr, err := json.Marshal(wireLines(lines))
	if err != nil {
		return false, err
	}
	// A record: the number of lines, a space, their JSON array, a newline.
	b := make([]byte, 0, len(arr)+12)
	b = strconv.AppendInt(b, int64(len(lines)), 10)
	b = append(b, ' ')
	b = append(append(b, arr...), '\n')
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch {
	case sp.refused != nil:
		return false, sp.refused
	case !sp.held:
		return false, nil
	case sp.failed != nil:
		return false, fmt.Errorf("log spool: %w", sp.failed)
	case sp.written-sp.sent+int64(len(b)) > sp.max:
		return false, fmt.Errorf("log spool full (%d bytes waiting for the hub)", sp.written-sp.sent)
	}
	if _, err := sp.w.Write(b); err != nil {
		return false, fmt.Errorf("log spool: %w", err)
	}
	sp.written += int64(len(b))
	select {
	case sp.wake <- struct{}{}:
	default:
	}
	return true, nil
}

// Batches sent at once after a cut.
const (
	sendMaxLines = 10000
	sendMaxBytes = 8 << 20
)

// send delivers the spool until close.
func (sp *spool) send() {
	defer close(sp.done)
	if sp.failed != nil {
		return
	}
	rd := bufio.NewReaderSize(sp.r, 256<<10)
	var read int64 // bytes of the file consumed into batches
	var body []byte
	// carry is a record read for a batch it did not fit in (the batch would
	// have passed sendMaxLines): the next batch starts with it.
	var carry []byte
	for {
		select {
		case <-sp.stop:
			return
		case <-sp.wake:
		}
		for {
			sp.mu.Lock()
			avail := sp.written - read
			sp.mu.Unlock()
			if avail <= 0 {
				break
			}
			// Records are joined as they are, without decoding them:
			// {"lines":[…record 1…,…record 2…]}.
			batch := append(make([]byte, 0, max(cap(body), 64<<10)), `{"lines":[`...)
			var n int64
			count := 0
			for n < avail && count < sendMaxLines && n < sendMaxBytes {
				rec := carry
				carry = nil
				if rec == nil {
					var err error
					if rec, err = rd.ReadBytes('\n'); err != nil {
						sp.fail(fmt.Errorf("log spool: %w", err))
						return
					}
				}
				num, arr, ok := bytes.Cut(bytes.TrimSuffix(rec, []byte("\n")), []byte(" "))
				k, err := strconv.Atoi(string(num))
				if !ok || err != nil || len(arr) < 2 || arr[0] != '[' || arr[len(arr)-1] != ']' {
					sp.fail(errors.New("log spool: a damaged record"))
					return
				}
				if count > 0 && count+k > sendMaxLines {
					carry = rec // the hub takes at most sendMaxLines at once
					break
				}
				n += int64(len(rec))
				if k == 0 {
					continue
				}
				if count > 0 {
					batch = append(batch, ',')
				}
				batch = append(batch, arr[1:len(arr)-1]...)
				count += k
			}
			batch = append(batch, "]}"...)
			body = batch
			read += n
			held, err := sp.deliver(batch)
			if err != nil {
				return // stopped
			}
			sp.mu.Lock()
			sp.sent += n
			if !held {
				sp.held = false
			}
			if sp.sent == sp.written {
				// Everything is delivered: empty the file.
				if err := sp.w.Truncate(0); err == nil {
					if _, err := sp.r.Seek(0, 0); err == nil {
						rd.Reset(sp.r)
						sp.written, sp.sent, read = 0, 0, 0
					}
				}
			}
			close(sp.progress)
			sp.progress = make(chan struct{})
			stop := !sp.held || sp.refused != nil
			sp.mu.Unlock()
			if stop {
				// The run is no longer this agent's: nothing more will be
				// sent; the file goes now (the entry stays, answering held
				// false).
				sp.release()
				return
			}
		}
	}
}

// deliver sends one batch (a JSON body) until the hub answers; a refusal
// is recorded (refused), an error is returned only when the spool stops.
func (sp *spool) deliver(batch []byte) (bool, error) {
	for attempt := 0; ; attempt++ {
		var out struct {
			Held bool `json:"held"`
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := sp.c.callRaw(ctx, http.MethodPost, runPath(sp.runID, "/logs"), batch, &out)
		cancel()
		if err == nil {
			return out.Held, nil
		}
		if !retryable(err) {
			sp.mu.Lock()
			sp.refused = err
			sp.mu.Unlock()
			return false, nil
		}
		if attempt == 0 || attempt%20 == 0 {
			sp.c.log.Warn("the hub is unreachable; log lines wait in the spool", "run_id", sp.runID, "error", err.Error())
		}
		select {
		case <-sp.stop:
			return false, errors.New("spool closed")
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
}

func (sp *spool) fail(err error) {
	sp.mu.Lock()
	sp.failed = err
	close(sp.progress)
	sp.progress = make(chan struct{})
	sp.mu.Unlock()
}

// drain waits until everything appended is delivered; it gives up after
// for without progress (the hub has given the run up by then). held is
// false when the hub said the run is no longer this agent's.
func (sp *spool) drain(ctx context.Context, for_ time.Duration) (bool, error) {
	select {
	case sp.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(for_)
	defer t.Stop()
	for {
		sp.mu.Lock()
		done, held, refused, failed, progress := sp.sent == sp.written, sp.held, sp.refused, sp.failed, sp.progress
		sp.mu.Unlock()
		switch {
		case refused != nil:
			return false, refused
		case !held:
			return false, nil
		case failed != nil:
			return false, failed
		case done:
			return true, nil
		}
		select {
		case <-progress:
			t.Reset(for_)
		case <-t.C:
			return false, hub.Errorf(hub.EUnavailable, "the hub was unreachable for a whole lease; the run's last log lines were not delivered")
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

func (sp *spool) close() {
	close(sp.stop)
	<-sp.done
	sp.release()
}

// release closes and removes the spool file, once.
func (sp *spool) release() {
	sp.once.Do(func() {
		if sp.w != nil {
			sp.w.Close()
			sp.r.Close()
			_ = os.Remove(sp.path)
		}
	})
}
