package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/bus"
	"automationhub/internal/hub"
	"automationhub/internal/runs"
)

// LiveLogs subscribes to a run's live log topic (the bus).
type LiveLogs interface {
	Subscribe(ctx context.Context, topic string) (bus.Subscription, error)
}

// wsLine is one log frame: the previous API's four keys plus seq.
type wsLine struct {
	RunID     string `json:"run_id"`
	Seq       int64  `json:"seq"`
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

func frameOf(l hub.LogLine) wsLine {
	return wsLine{RunID: l.RunID, Seq: l.Seq, Timestamp: wsTime(l.Timestamp), Level: l.Level, Message: l.Message}
}

func wsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999") + "+00:00" }

// wsStatus is the last frame of a stream, sent when the run has ended and
// every line up to LastSeq has been sent. It also carries the keys of a log
// line (timestamp, level, message), so clients that show every frame as a
// line can show it too. It has no seq: it is not a stored line.
type wsStatus struct {
	Type      string `json:"type"` // "status"
	RunID     string `json:"run_id"`
	Status    string `json:"status"`
	LastSeq   int64  `json:"last_seq"`
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

// WebSocket close codes for rejected connections.
const (
	closeUnauthorized websocket.StatusCode = 4401
	closeForbidden    websocket.StatusCode = 4403
	closeNotFound     websocket.StatusCode = 4404
)

const (
	wsBacklogDefault = 500
	wsPage           = 1000
	wsStatusPoll     = 3 * time.Second
)

func (s *Server) registerLogStream() {
	s.handlePlain(&huma.Operation{
		OperationID: "run-log-stream", Method: http.MethodGet, Path: APIPrefix + "/ws/runs/{run_id}/logs", Tags: []string{tagRuns},
		Summary: "Live log of a run (WebSocket)",
		Description: "Authenticate with `?token=<jwt>`, an `Authorization: Bearer` header, or the subprotocol pair `bearer, <jwt>` " +
			"(keeps the token out of access logs). Frames: `{run_id, seq, timestamp, level, message}` per line, in seq order, each " +
			"exactly once; `?after_seq=N` resumes after line N (default: the last 500 lines). When the run ends, after every line up " +
			"to the last one, a frame `{\"type\":\"status\",\"run_id\",\"status\",\"last_seq\",\"timestamp\",\"level\":\"INFO\"," +
			"\"message\":\"Run finished with status SUCCESS.\"}` is sent (`last_seq`: the run's final line; a client that holds fewer " +
			"lines fetches the rest from `/runs/{id}/logs`) and the socket closes normally. Rejections close with 4401 " +
			"(not authenticated), 4403 (not allowed) or 4404 (no such run). Requires `run.read` on the run's robot. " +
			"An open stream authenticates its token and checks `run.read` again every 10 seconds: a deactivated user, a revoked " +
			"or expired token closes it with 4401, a lost permission with 4403. Browsers may open it from the page's own origin " +
			"or from one listed in `CORS_ORIGINS`.",
		Parameters: []*huma.Param{
			{Name: "run_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
			{Name: "token", In: "query", Schema: &huma.Schema{Type: huma.TypeString}},
			{Name: "after_seq", In: "query", Schema: &huma.Schema{Type: huma.TypeInteger, Minimum: ptrFloat(0)}},
		},
		Security:  []map[string][]string{{bearerScheme: {}}},
		Responses: map[string]*huma.Response{"101": {Description: "Switching to the WebSocket protocol."}},
	}, false, http.HandlerFunc(s.serveLogStream))
}

func ptrFloat(f float64) *float64 { return &f }

// wsToken finds the caller's token: query, header, or subprotocol.
func wsToken(r *http.Request) (token, subprotocol string) {
	protos := strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",")
	for i := range protos {
		protos[i] = strings.TrimSpace(protos[i])
	}
	if len(protos) == 2 && strings.EqualFold(protos[0], "bearer") {
		return protos[1], protos[0]
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t, ""
	}
	if t, ok := bearerToken(r.Header.Get("Authorization")); ok {
		return t, ""
	}
	return "", ""
}

func (s *Server) serveLogStream(w http.ResponseWriter, r *http.Request) {
	token, proto := wsToken(r)
	opts := &websocket.AcceptOptions{OriginPatterns: s.wsOrigins()}
	if proto != "" {
		opts.Subprotocols = []string{proto}
	}
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept already answered the HTTP request
	}
	defer conn.CloseNow()
	ctx := r.Context()

	reject := func(err error) {
		code, reason := closeUnauthorized, hub.ErrorMessage(err)
		switch hub.ErrorKind(err) {
		case hub.EForbidden:
			code = closeForbidden
		case hub.ENotFound:
			code = closeNotFound
		case hub.EInvalid:
			code = websocket.StatusPolicyViolation
		case hub.EUnauthorized:
		default:
			code, reason = websocket.StatusInternalError, "Internal server error."
			loggerFrom(ctx).ErrorContext(ctx, "log stream failed", "error", err.Error())
		}
		conn.Close(code, reason)
	}
	if token == "" {
		reject(hub.Errorf(hub.EUnauthorized, "Not authenticated"))
		return
	}
	p, err := s.auth.Authenticate(ctx, token, ClientIP(ctx))
	if err != nil {
		reject(err)
		return
	}
	run, log, err := s.runs.OpenLog(ctx, p, r.PathValue("run_id"))
	if err != nil {
		reject(err)
		return
	}
	// Client frames are read (and ignored) only to notice a disconnect.
	ctx = conn.CloseRead(ctx)

	st := &logStream{srv: s, conn: conn, log: log, runID: run.ID, token: token}
	after := int64(-1)
	if v := r.URL.Query().Get("after_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			reject(hub.Errorf(hub.EInvalid, "after_seq must be a non-negative integer."))
			return
		}
		after = n
	}
	err = st.run(ctx, after)
	switch hub.ErrorKind(err) {
	case hub.EUnauthorized, hub.EForbidden, hub.ENotFound: // access lost while streaming
		reject(err)
		return
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		loggerFrom(ctx).WarnContext(ctx, "log stream ended", "run_id", run.ID, "error", err.Error())
		conn.Close(websocket.StatusInternalError, "stream failed")
		return
	}
	conn.Close(websocket.StatusNormalClosure, "run finished")
}

// wsOrigins allows same-origin browsers plus the configured CORS origins.
func (s *Server) wsOrigins() []string {
	var out []string
	for _, o := range s.cfg.CORSOrigins {
		if i := strings.Index(o, "://"); i >= 0 {
			out = append(out, o[i+3:])
		} else {
			out = append(out, o)
		}
	}
	return out
}

// logStream sends one run's log to one client: subscribe first, then the
// stored backlog, then live lines with seq above the last one sent; gaps
// (lost or dropped live messages) are filled from the database, so every
// line is sent exactly once and in order. Every Server.logRecheck the
// caller's token is authenticated again and run.read checked again, so a
// deactivated user, a revoked or expired token or a lost permission ends
// the stream (4401, 4403).
type logStream struct {
	srv   *Server
	conn  *websocket.Conn
	log   *runs.LogReader
	runID string
	token string
	last  int64
}

func (st *logStream) run(ctx context.Context, after int64) error {
	sub, err := st.srv.live.Subscribe(ctx, bus.LogTopic(st.runID))
	if err != nil {
		return err
	}
	defer func() { sub.Close() }()
	if after < 0 {
		last, err := st.log.LastSeq(ctx)
		if err != nil {
			return err
		}
		after = max(0, last-wsBacklogDefault)
	}
	st.last = after
	if err := st.catchUp(ctx); err != nil {
		return err
	}
	poll := time.NewTicker(wsStatusPoll)
	defer poll.Stop()
	recheck := time.NewTicker(st.srv.logRecheck)
	defer recheck.Stop()
	if done, err := st.finishedNow(ctx); err != nil || done {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-recheck.C:
			if err := st.recheck(ctx); err != nil {
				return err
			}
		case <-poll.C:
			if done, err := st.finishedNow(ctx); err != nil || done {
				return err
			}
		case msg, ok := <-sub.C():
			if !ok {
				// Dropped as too slow, or the transport failed: resubscribe and fill the gap from the database.
				if sub, err = st.srv.live.Subscribe(ctx, bus.LogTopic(st.runID)); err != nil {
					return err
				}
				if err := st.catchUp(ctx); err != nil {
					return err
				}
				continue
			}
			ended, err := st.handle(ctx, msg)
			if err != nil {
				return err
			}
			if ended {
				if done, err := st.finishedNow(ctx); err != nil || done {
					return err
				}
			}
		}
	}
}

// recheck authenticates the caller's token again (user still active, token
// not revoked or expired) and checks run.read on the run's robot again.
func (st *logStream) recheck(ctx context.Context) error {
	p, err := st.srv.auth.Authenticate(ctx, st.token, ClientIP(ctx))
	if err != nil {
		return err
	}
	_, _, err = st.srv.runs.OpenLog(ctx, p, st.runID)
	return err
}

// catchUp sends every stored line after st.last.
func (st *logStream) catchUp(ctx context.Context) error {
	for {
		lines, err := st.log.Page(ctx, st.last, wsPage)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if err := st.send(ctx, l); err != nil {
				return err
			}
		}
		if len(lines) < wsPage {
			return nil
		}
	}
}

func (st *logStream) send(ctx context.Context, l hub.LogLine) error {
	if l.Seq <= st.last {
		return nil
	}
	b, _ := json.Marshal(frameOf(l))
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := st.conn.Write(wctx, websocket.MessageText, b); err != nil {
		return err
	}
	st.last = l.Seq
	return nil
}

// handle processes one bus message: a batch of lines, or the end of the run
// (ended; the final status is then read from the database).
func (st *logStream) handle(ctx context.Context, msg []byte) (ended bool, err error) {
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(msg, &probe) != nil {
		return false, nil
	}
	if probe.Type == "status" {
		return true, nil
	}
	var batch runs.LogBatch
	if probe.Type != "logs" || json.Unmarshal(msg, &batch) != nil {
		return false, nil
	}
	for _, l := range batch.Lines {
		if l.Seq > st.last+1 {
			if err := st.catchUp(ctx); err != nil { // a gap: fill it from the database
				return false, err
			}
		}
		if err := st.send(ctx, l); err != nil {
			return false, err
		}
	}
	return false, nil
}

// finishedNow reports whether the run has ended; if so it sends the rest of
// the log — every line up to the last one stored — and then the status frame
// naming that last seq.
func (st *logStream) finishedNow(ctx context.Context) (bool, error) {
	run, err := st.log.Run(ctx)
	if err != nil {
		return false, err
	}
	if !hub.Finished(run.Status) {
		return false, nil
	}
	last, err := st.log.LastSeq(ctx)
	if err != nil {
		return false, err
	}
	for st.last < last {
		before := st.last
		if err := st.catchUp(ctx); err != nil {
			return false, err
		}
		if st.last == before {
			return false, fmt.Errorf("log of run %s: lines up to %d are stored but only %d could be read", st.runID, last, before)
		}
	}
	at := time.Now()
	if run.FinishedAt != nil {
		at = *run.FinishedAt
	}
	b, _ := json.Marshal(wsStatus{Type: "status", RunID: st.runID, Status: run.Status, LastSeq: max(last, st.last), Timestamp: wsTime(at),
		Level: hub.LevelInfo, Message: "Run finished with status " + run.Status + "."})
	return true, st.conn.Write(ctx, websocket.MessageText, b)
}
