package executor

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxPipeBytes bounds what a pipe can still hold once every process that
// could write to it is gone (Linux allows pipes of up to 1 MiB by default).
const maxPipeBytes = 1 << 20

// output copies a robot's stdout and stderr from pipes the worker owns, so
// that a slow reader (the log pump waiting on the database) never loses a
// line: os/exec's own copying gives up after WaitDelay whatever the reason,
// and would cut the end of a long log when the database is slow.
//
// Once the main process has exited, a pipe that stays silent for the grace
// period is closed (a descendant still holds it open), and from a grace
// period after the exit at most maxPipeBytes more are read (a descendant
// that keeps writing). Used where pipes support deadlines (Unix); elsewhere
// os/exec copies with WaitDelay.
type output struct {
	grace  time.Duration
	pipes  []*outputPipe
	wg     sync.WaitGroup
	done   chan struct{} // closed when every pipe has been copied
	exited atomic.Bool   // the main process has exited
	read   atomic.Int64  // bytes read from all pipes
	limit  atomic.Int64  // when > 0, stop once read passes it
}

type outputPipe struct {
	r, w *os.File
	dst  io.Writer
	err  error // a write to dst failed
}

// newOutput creates the pipes for stdout and stderr (one shared pipe when
// both are the same writer; none for a nil writer, which os/exec sends to
// the null device) and returns the files to give the child.
func newOutput(stdout, stderr io.Writer, grace time.Duration) (o *output, childOut, childErr *os.File, err error) {
	o = &output{grace: grace, done: make(chan struct{})}
	open := func(dst io.Writer) (*os.File, error) {
		if dst == nil {
			return nil, nil
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		o.pipes = append(o.pipes, &outputPipe{r: r, w: w, dst: dst})
		return w, nil
	}
	if childOut, err = open(stdout); err != nil {
		o.close()
		return nil, nil, nil, err
	}
	if stderr != nil && stderr == stdout {
		childErr = childOut
	} else if childErr, err = open(stderr); err != nil {
		o.close()
		return nil, nil, nil, err
	}
	return o, childOut, childErr, nil
}

// started closes the child's ends in the worker and starts copying.
func (o *output) started() {
	for _, p := range o.pipes {
		p.w.Close()
		o.wg.Go(func() { o.copy(p) })
	}
	go func() { o.wg.Wait(); close(o.done) }()
}

// close releases every pipe (the child could not be started).
func (o *output) close() {
	for _, p := range o.pipes {
		p.r.Close()
		p.w.Close()
	}
}

// mainExited switches every pipe to reading with an idle timeout of the
// grace period, including reads already waiting.
func (o *output) mainExited() {
	o.exited.Store(true)
	for _, p := range o.pipes {
		_ = p.r.SetReadDeadline(time.Now().Add(o.grace))
	}
}

// drainOnly lets at most maxPipeBytes more be read: what the pipes still
// hold once their writers are gone.
func (o *output) drainOnly() {
	o.limit.Store(o.read.Load() + maxPipeBytes)
}

// err is the first error of a destination writer.
func (o *output) err() error {
	for _, p := range o.pipes {
		if p.err != nil {
			return p.err
		}
	}
	return nil
}

func (o *output) copy(p *outputPipe) {
	defer p.r.Close()
	buf := make([]byte, 32<<10)
	for {
		if o.exited.Load() {
			_ = p.r.SetReadDeadline(time.Now().Add(o.grace))
		}
		n, err := p.r.Read(buf)
		if n > 0 {
			total := o.read.Add(int64(n))
			if _, werr := p.dst.Write(buf[:n]); werr != nil {
				p.err = werr
				return
			}
			if l := o.limit.Load(); l > 0 && total > l {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
				p.err = err
			}
			return
		}
	}
}
