package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"automationhub/internal/hub"
)

// NotifyStore is the outbox as the notifier uses it.
type NotifyStore interface {
	TryLock(ctx context.Context, name string, lease time.Duration) (unlock func(), ok bool, err error)
	// DueNotifications returns PENDING notices due at now, oldest first.
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]hub.Notification, error)
	// RecordDelivery stores the outcome of one attempt.
	RecordDelivery(ctx context.Context, id, status string, attempts int, next time.Time, lastErr *string, now time.Time) error
}

// Message is one notice, ready for any channel: what broke, since when,
// and links to the robot and run.
type Message struct {
	// ID identifies the notice (the outbox row): the same on a repeated
	// delivery, so receivers can drop a duplicate.
	ID       string
	Event    string // raised or resolved
	Alert    hub.Alert
	Title    string
	Text     string
	Since    time.Time
	RobotURL string
	RunURL   string
	AlertURL string
}

// Sender delivers a message to one target of its channel. An error is
// retried later unless it is Permanent.
type Sender interface {
	Send(ctx context.Context, target string, m *Message) error
}

// PermanentError marks a delivery that cannot succeed by retrying.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// NotifierConfig tunes a Notifier.
type NotifierConfig struct {
	Senders map[string]Sender
	// PublicURL is the hub's address, for links (empty: no links).
	PublicURL string
	// MaxAttempts before a notice is given up as FAILED (default 6).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each next one up to MaxBackoff (defaults 30 s and 1 h).
	Backoff, MaxBackoff time.Duration
	// Poll is the time between looks at the outbox (default 5 s).
	Poll time.Duration
	// SendTimeout bounds one delivery (default 15 s).
	SendTimeout time.Duration
	Batch       int
	Clock       hub.Clock
	Logger      *slog.Logger
	Sleep       func(ctx context.Context, until time.Time)
}

// Notifier delivers the outbox: one process at a time fleet-wide (a
// lock per pass), each notice until it is SENT or, after MaxAttempts,
// FAILED with its last error. A notice is marked SENT right after its
// delivery succeeded; a crash in between may send it once more (at
// least once), never less.
//
// Start launches one goroutine, which exits when Stop is called or the
// context of Start ends.
type Notifier struct {
	store NotifyStore
	cfg   NotifierConfig

	loop loop
}

// NewNotifier returns a notifier.
func NewNotifier(store NotifyStore, cfg NotifierConfig) *Notifier {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 15 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, until time.Time) {
			t := time.NewTimer(time.Until(until))
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Notifier{store: store, cfg: cfg}
}

// Start launches the loop; calling it twice is a no-op.
func (n *Notifier) Start(ctx context.Context) error {
	pass := func(ctx context.Context) error { _, err := n.Pass(ctx); return err }
	n.loop.start(ctx, n.cfg.Logger, "notification pass", pass, func(ctx context.Context) {
		n.cfg.Sleep(ctx, n.cfg.Clock.Now().Add(n.cfg.Poll))
	})
	return nil
}

// Stop ends the loop and waits for it (a delivery in progress ends at its
// timeout at the latest); safe before Start and more than once.
func (n *Notifier) Stop(context.Context) error {
	n.loop.stop()
	return nil
}

// Pass delivers the notices due now (one batch) and returns how many it
// attempted.
func (n *Notifier) Pass(ctx context.Context) (int, error) {
	// The lease outlasts a whole batch at its timeouts (SQLite's lock row).
	unlock, ok, err := n.store.TryLock(ctx, "notify", time.Duration(n.cfg.Batch)*n.cfg.SendTimeout+time.Minute)
	if err != nil || !ok {
		return 0, err
	}
	defer unlock()
	due, err := n.store.DueNotifications(ctx, n.cfg.Clock.Now(), n.cfg.Batch)
	if err != nil {
		return 0, err
	}
	for i := range due {
		if ctx.Err() != nil {
			return i, ctx.Err()
		}
		if err := n.deliver(ctx, &due[i]); err != nil {
			return i, err
		}
	}
	return len(due), nil
}

// backoff is the wait after attempt failed attempts.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.cfg.Backoff
	for i := 1; i < attempts && d < n.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.cfg.MaxBackoff)
}

func (n *Notifier) deliver(ctx context.Context, no *hub.Notification) error {
	var sendErr error
	sender := n.cfg.Senders[no.Channel]
	if sender == nil {
		sendErr = &PermanentError{Err: fmt.Errorf("channel %s is not configured", no.Channel)}
	} else {
		sctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
		sendErr = sender.Send(sctx, no.Target, n.Message(no))
		cancel()
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the attempt does not count
	}
	now := n.cfg.Clock.Now()
	attempts := no.Attempts + 1
	if sendErr == nil {
		return n.store.RecordDelivery(ctx, no.ID, hub.NotifySent, attempts, now, nil, now)
	}
	msg := sendErr.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	var perm *PermanentError
	if errors.As(sendErr, &perm) || attempts >= n.cfg.MaxAttempts {
		n.cfg.Logger.WarnContext(ctx, "notification failed for good", "channel", no.Channel, "alert_id", no.AlertID, "attempts", attempts, "error", msg)
		return n.store.RecordDelivery(ctx, no.ID, hub.NotifyFailed, attempts, now, &msg, now)
	}
	return n.store.RecordDelivery(ctx, no.ID, hub.NotifyPending, attempts, now.Add(n.backoff(attempts)), &msg, now)
}

// Message builds what a notice says.
func (n *Notifier) Message(no *hub.Notification) *Message {
	a := *no.Alert
	m := &Message{ID: no.ID, Event: no.Event, Alert: a, Since: a.CreatedAt}
	subject := a.RobotName
	if subject == "" {
		subject = a.Subject
	}
	if subject == "" {
		subject = "queue"
	}
	if no.Event == hub.NoticeResolved {
		m.Title = fmt.Sprintf("Resolved: %s — %s", a.Type, subject)
		end := a.CreatedAt
		if a.ResolvedAt != nil {
			end = *a.ResolvedAt
		}
		m.Text = fmt.Sprintf("%s\nBroken since %s, back to normal at %s.", a.Message, a.CreatedAt.Format(time.RFC3339), end.Format(time.RFC3339))
	} else {
		m.Title = fmt.Sprintf("[%s] %s — %s", a.Severity, a.Type, subject)
		m.Text = fmt.Sprintf("%s\nSince %s.", a.Message, a.CreatedAt.Format(time.RFC3339))
	}
	if n.cfg.PublicURL != "" {
		m.AlertURL = n.cfg.PublicURL + "/alerts?type=" + a.Type
		if a.RobotID != nil {
			m.RobotURL = n.cfg.PublicURL + "/robots/" + *a.RobotID
		}
		if a.RunID != nil {
			m.RunURL = n.cfg.PublicURL + "/runs/" + *a.RunID
		}
	}
	return m
}

// postJSON sends body to url; a 2xx answer is success, 4xx other than 408
// and 429 is permanent.
func postJSON(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "AutomationHub-Notifier/1")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &PermanentError{Err: err}
	}
	return err
}

// WebhookPayload is the JSON body of the generic webhook.
type WebhookPayload struct {
	DeliveryID string       `json:"delivery_id"`
	Event      string       `json:"event"`
	Title      string       `json:"title"`
	Text       string       `json:"text"`
	Alert      WebhookAlert `json:"alert"`
	RobotURL   string       `json:"robot_url,omitempty"`
	RunURL     string       `json:"run_url,omitempty"`
	AlertURL   string       `json:"alert_url,omitempty"`
}

// WebhookAlert is the alert inside a webhook body (AlertEventRead plus
// the robot's name).
type WebhookAlert struct {
	ID         string         `json:"id"`
	RobotID    *string        `json:"robot_id"`
	RobotName  string         `json:"robot_name"`
	RunID      *string        `json:"run_id"`
	Type       string         `json:"type"`
	Severity   string         `json:"severity"`
	Message    string         `json:"message"`
	Metadata   map[string]any `json:"metadata_json"`
	CreatedAt  time.Time      `json:"created_at"`
	ResolvedAt *time.Time     `json:"resolved_at"`
}

// DeliveryHeader carries the notice's id, the same on every attempt.
const DeliveryHeader = "X-Hub-Delivery"

// SignatureHeader carries the webhook body's HMAC-SHA256, "sha256=<hex>".
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// WebhookSecret derives the signing secret of one webhook URL from the
// hub's key, so every channel has its own secret without storing any:
// an administrator reads it once (GET /api/v1/alerts/webhook-secret).
func WebhookSecret(hubKey, url string) string {
	mac := hmac.New(sha256.New, []byte(hubKey))
	mac.Write([]byte("automation-hub webhook secret\x00" + url))
	return hex.EncodeToString(mac.Sum(nil))
}

// Webhook posts the notice as JSON, signed with the channel's secret.
type Webhook struct {
	Client *http.Client
	// SecretFunc returns the secret of a webhook URL.
	SecretFunc func(url string) string
}

// Send implements Sender.
func (w *Webhook) Send(ctx context.Context, target string, m *Message) error {
	a := m.Alert
	body, err := json.Marshal(WebhookPayload{DeliveryID: m.ID, Event: m.Event, Title: m.Title, Text: m.Text, RobotURL: m.RobotURL, RunURL: m.RunURL, AlertURL: m.AlertURL,
		Alert: WebhookAlert{ID: a.ID, RobotID: a.RobotID, RobotName: a.RobotName, RunID: a.RunID, Type: a.Type, Severity: a.Severity,
			Message: a.Message, Metadata: a.Metadata, CreatedAt: a.CreatedAt, ResolvedAt: a.ResolvedAt}})
	if err != nil {
		return &PermanentError{Err: err}
	}
	h := http.Header{}
	h.Set(SignatureHeader, Sign([]byte(w.SecretFunc(target)), body))
	h.Set("X-Hub-Event", "alert."+m.Event)
	h.Set(DeliveryHeader, m.ID)
	return postJSON(ctx, client(w.Client), target, body, h)
}

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 20 * time.Second}
}

// Teams posts the notice to a Microsoft Teams incoming webhook (or a
// Workflows URL) as an Adaptive Card.
type Teams struct{ Client *http.Client }

// AdaptiveCard returns the card of a message (schema 1.4).
func AdaptiveCard(m *Message) map[string]any {
	a := m.Alert
	color := "Attention"
	if m.Event == hub.NoticeResolved {
		color = "Good"
	} else if a.Severity == hub.SeverityWarn {
		color = "Warning"
	}
	facts := []map[string]any{
		{"title": "Type", "value": a.Type},
		{"title": "Severity", "value": a.Severity},
		{"title": "Since", "value": a.CreatedAt.Format(time.RFC3339)},
	}
	if a.RobotName != "" {
		facts = append(facts, map[string]any{"title": "Robot", "value": a.RobotName})
	}
	if a.RunID != nil {
		facts = append(facts, map[string]any{"title": "Run", "value": *a.RunID})
	}
	if a.ResolvedAt != nil {
		facts = append(facts, map[string]any{"title": "Resolved", "value": a.ResolvedAt.Format(time.RFC3339)})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body": []map[string]any{
			{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "color": color, "wrap": true},
			{"type": "TextBlock", "text": a.Message, "wrap": true},
			{"type": "FactSet", "facts": facts},
		},
	}
	var actions []map[string]any
	for _, l := range [][2]string{{"Open robot", m.RobotURL}, {"Open run", m.RunURL}, {"Alerts", m.AlertURL}} {
		if l[1] != "" {
			actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": l[0], "url": l[1]})
		}
	}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return card
}

// TeamsPayload wraps an Adaptive Card as a Teams message.
func TeamsPayload(m *Message) map[string]any {
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     AdaptiveCard(m),
		}},
	}
}

// Send implements Sender.
func (t *Teams) Send(ctx context.Context, target string, m *Message) error {
	body, err := json.Marshal(TeamsPayload(m))
	if err != nil {
		return &PermanentError{Err: err}
	}
	return postJSON(ctx, client(t.Client), target, body, nil)
}

// Slack posts the notice to a Slack incoming webhook.
type Slack struct{ Client *http.Client }

// Send implements Sender.
func (s *Slack) Send(ctx context.Context, target string, m *Message) error {
	text := "*" + m.Title + "*\n" + m.Text
	for _, l := range [][2]string{{"robot", m.RobotURL}, {"run", m.RunURL}} {
		if l[1] != "" {
			text += fmt.Sprintf("\n<%s|Open %s>", l[1], l[0])
		}
	}
	body, err := json.Marshal(map[string]any{
		"text":   m.Title,
		"blocks": []map[string]any{{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}},
	})
	if err != nil {
		return &PermanentError{Err: err}
	}
	return postJSON(ctx, client(s.Client), target, body, nil)
}
