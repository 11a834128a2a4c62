package alert_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"automationhub/internal/alert"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// sink is an HTTP endpoint that records what it receives and answers
// with the statuses given, then 200.
type sink struct {
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	sigs     []string
	srv      *httptest.Server
}

func newSink(t *testing.T, statuses ...int) *sink {
	s := &sink{statuses: statuses}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.sigs = append(s.sigs, r.Header.Get(alert.SignatureHeader))
		code := 200
		if len(s.statuses) > 0 {
			code, s.statuses = s.statuses[0], s.statuses[1:]
		}
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) received() ([][]byte, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte{}, s.bodies...), append([]string{}, s.sigs...)
}

const hubKey = "test-hub-key-0123456789-0123456789"

func (b *bundle) notifier(senders map[string]alert.Sender, max int) *alert.Notifier {
	return alert.NewNotifier(b.db, alert.NotifierConfig{Senders: senders, PublicURL: "https://hub.example/", MaxAttempts: max,
		Backoff: 30 * time.Second, MaxBackoff: time.Hour, Clock: b.clock, Logger: quiet})
}

func webhookSender() *alert.Webhook {
	return &alert.Webhook{SecretFunc: func(url string) string { return alert.WebhookSecret(hubKey, url) }}
}

// breachAndRecover raises a FAILED alert for a robot whose rule sends to
// channels, then resolves it by a successful run: two notices per target.
func breachAndRecover(t *testing.T, b *bundle, channels string) {
	t.Helper()
	ctx := context.Background()
	m, rid := breach(t, b, channels)
	b.clock.add(time.Minute)
	run(t, b.db, rid, hub.RunSuccess, b.clock.Now().Add(-90*time.Second))
	must(t, m.FailurePass(ctx))
}

// breach raises a FAILED alert for a robot whose rule sends to channels.
func breach(t *testing.T, b *bundle, channels string) (*alert.Monitor, string) {
	t.Helper()
	ctx := context.Background()
	rid := robot(t, b.db, "notify-bot")
	_, err := b.svc.CreateRule(ctx, admin, rid, alert.RuleInput{ExpectedRunEveryMinutes: intp(600), Channels: raw(channels)})
	must(t, err)
	m := b.monitor()
	run(t, b.db, rid, hub.RunFailed, b.clock.Now().Add(-2*time.Minute))
	must(t, m.Pass(ctx))
	return m, rid
}

func (b *bundle) notices(t *testing.T) map[string]int {
	t.Helper()
	list, err := b.db.ListNotifications(context.Background(), "", 100)
	must(t, err)
	out := map[string]int{}
	for _, n := range list {
		out[n.Channel+" "+n.Event+" "+n.Status+" attempts="+strconv.Itoa(n.Attempts)]++
	}
	return out
}

func TestWebhookGetsEachNoticeOnceSigned(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			s := newSink(t)
			breachAndRecover(t, b, `{"webhook":["`+s.srv.URL+`/hook"]}`)
			n := b.notifier(map[string]alert.Sender{hub.ChannelWebhook: webhookSender()}, 5)
			for range 3 { // later passes find nothing due
				_, err := n.Pass(ctx)
				must(t, err)
				restarted := b.notifier(map[string]alert.Sender{hub.ChannelWebhook: webhookSender()}, 5)
				_, err = restarted.Pass(ctx)
				must(t, err)
			}
			bodies, sigs := s.received()
			if len(bodies) != 2 {
				t.Fatalf("sink got %d notices, want 2 (raised, resolved)", len(bodies))
			}
			secret := alert.WebhookSecret(hubKey, s.srv.URL+"/hook")
			for i, body := range bodies {
				if sigs[i] != alert.Sign([]byte(secret), body) {
					t.Errorf("notice %d: signature %q does not match its body", i, sigs[i])
				}
				if alert.Sign([]byte(alert.WebhookSecret(hubKey, s.srv.URL+"/other")), body) == sigs[i] {
					t.Error("another URL's secret verifies the signature")
				}
			}
			var first, second alert.WebhookPayload
			must(t, json.Unmarshal(bodies[0], &first))
			must(t, json.Unmarshal(bodies[1], &second))
			if first.DeliveryID == "" || first.DeliveryID == second.DeliveryID {
				t.Errorf("delivery ids %q, %q: want two distinct ids", first.DeliveryID, second.DeliveryID)
			}
			if first.Event != "raised" || second.Event != "resolved" || first.Alert.Type != hub.AlertFailed || first.Alert.RunID == nil ||
				first.RunURL != "https://hub.example/runs/"+*first.Alert.RunID || !strings.HasPrefix(first.RobotURL, "https://hub.example/robots/") ||
				!strings.Contains(first.Text, "boom: the portal was down") || !strings.Contains(first.Text, "Since ") || second.Alert.ResolvedAt == nil {
				t.Errorf("notices = %+v / %+v", first, second)
			}
			check(t, "outbox", b.notices(t), map[string]int{"webhook raised SENT attempts=1": 1, "webhook resolved SENT attempts=1": 1})
		})
	}
}

func TestNoticeRetriedWithBackoffThenFailedForGood(t *testing.T) {
	t.Parallel()
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, dialect)
			flaky := newSink(t, 500, 500)          // then 200
			down := newSink(t, 503, 503, 503, 503) // always failing within 3 attempts
			gone := newSink(t, 404)                // permanent
			breach(t, b, `{"webhook":["`+flaky.srv.URL+`"],"slack":["`+down.srv.URL+`"],"teams":["`+gone.srv.URL+`"]}`)
			n := b.notifier(map[string]alert.Sender{hub.ChannelWebhook: webhookSender(), hub.ChannelSlack: &alert.Slack{}, hub.ChannelTeams: &alert.Teams{}}, 3)
			pass := func() {
				_, err := n.Pass(ctx)
				must(t, err)
			}
			pass() // attempt 1 of everything
			pass() // nothing due yet
			b.clock.add(29 * time.Second)
			pass()
			if got, _ := flaky.received(); len(got) != 1 {
				t.Fatalf("flaky sink after 29 s: %d requests, want 1", len(got))
			}
			b.clock.add(time.Second) // 30 s: attempt 2
			pass()
			b.clock.add(time.Minute) // backoff doubled: attempt 3
			pass()
			b.clock.add(time.Hour)
			pass()
			got, sigs := flaky.received()
			if len(got) != 3 || !bytes.Equal(got[0], got[2]) {
				t.Errorf("flaky sink: %d requests, want 3 of the same notice (500, 500, 200)", len(got))
			}
			for i := range got {
				if sigs[i] == "" {
					t.Errorf("request %d unsigned", i)
				}
			}
			if d, _ := down.received(); len(d) != 3 {
				t.Errorf("failing sink: %d requests, want 3 attempts", len(d))
			}
			if g, _ := gone.received(); len(g) != 1 {
				t.Errorf("404 sink: %d requests, want 1 (no retry)", len(g))
			}
			check(t, "outbox", b.notices(t), map[string]int{
				"webhook raised SENT attempts=3": 1, "slack raised FAILED attempts=3": 1, "teams raised FAILED attempts=1": 1})
			failed, err := b.db.ListNotifications(ctx, hub.NotifyFailed, 10)
			must(t, err)
			for _, f := range failed {
				if f.LastError == nil || !strings.Contains(*f.LastError, "HTTP 50") && !strings.Contains(*f.LastError, "HTTP 404") {
					t.Errorf("failed notice %s: last error %v", f.Channel, f.LastError)
				}
			}
		})
	}
}

func TestTeamsPayloadIsAnAdaptiveCard(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/adaptive-card-1.4.schema.json")
	must(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	must(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	must(t, c.AddResource("adaptive-card.json", doc))
	schema, err := c.Compile("adaptive-card.json")
	must(t, err)

	robotID, runID := "2f0f6f63-93a4-4a43-9d2f-5a3f3b7f1c11", "7d2b4e2c-1c51-4b7a-9f3c-0b8e9d0c6a22"
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	n := alert.NewNotifier(nil, alert.NotifierConfig{PublicURL: "https://hub.example"})
	for _, tt := range []struct {
		name  string
		event string
		a     hub.Alert
	}{
		{"failed run", hub.NoticeRaised, hub.Alert{ID: "a1", RobotID: &robotID, RunID: &runID, Type: hub.AlertFailed, Severity: hub.SeverityWarn,
			Message: "Run failed: boom", CreatedAt: now, RobotName: "invoices"}},
		{"recovered", hub.NoticeResolved, hub.Alert{ID: "a1", RobotID: &robotID, Type: hub.AlertLate, Severity: hub.SeverityWarn,
			Message: "Robot is late", CreatedAt: now, ResolvedAt: &now, RobotName: "invoices"}},
		{"system alert", hub.NoticeRaised, hub.Alert{ID: "a2", Type: hub.AlertWorkerDown, Severity: hub.SeverityCritical, Subject: "w1",
			Message: "Worker heartbeat is stale.", CreatedAt: now}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := n.Message(&hub.Notification{Event: tt.event, Alert: &tt.a})
			body, err := json.Marshal(alert.TeamsPayload(m))
			must(t, err)
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			must(t, err)
			if err := schema.Validate(inst); err != nil {
				t.Errorf("Teams payload is not a valid Adaptive Card message: %v\n%s", err, body)
			}
		})
	}
	// The schema refuses what Teams would refuse.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
		"content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"Text","text":"x"}]}}]}`))
	if schema.Validate(bad) == nil {
		t.Error("schema accepts an unknown element type")
	}
}

// smtpBackend is a mail server started inside the test: it requires
// STARTTLS before AUTH PLAIN and MAIL, and keeps what it receives.
type smtpBackend struct {
	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	data string
	tls  bool
	user string
}

type smtpSession struct {
	be   *smtpBackend
	conn *smtp.Conn
	cur  received
}

func (be *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{be: be, conn: c}, nil
}

func (s *smtpSession) AuthMechanisms() []string { return []string{"PLAIN"} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "hub" || pass != "mail-pass" {
			return errors.New("bad credentials")
		}
		s.cur.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	_, s.cur.tls = s.conn.TLSConnectionState()
	if !s.cur.tls {
		return &smtp.SMTPError{Code: 530, Message: "Must issue a STARTTLS command first"}
	}
	s.cur.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	var b strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	s.cur.data = b.String()
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, s.cur)
	s.be.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = received{user: s.cur.user} }
func (s *smtpSession) Logout() error { return nil }

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestEmailReachesAnSMTPServerOverSTARTTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	be := &smtpBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	cfg := alert.SMTPConfig{Host: "127.0.0.1", Port: port, Username: "hub", Password: "mail-pass", From: "hub@example.com", TLS: "starttls",
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	robotID, runID := "2f0f6f63-93a4-4a43-9d2f-5a3f3b7f1c11", "7d2b4e2c-1c51-4b7a-9f3c-0b8e9d0c6a22"
	n := alert.NewNotifier(nil, alert.NotifierConfig{PublicURL: "https://hub.example"})
	m := n.Message(&hub.Notification{ID: "n-42", Event: hub.NoticeRaised, Alert: &hub.Alert{ID: "a1", RobotID: &robotID, RunID: &runID, Type: hub.AlertFailed,
		Severity: hub.SeverityWarn, Message: "Run failed: boom", CreatedAt: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC), RobotName: "invoices"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(t, (&alert.Email{Config: cfg}).Send(ctx, "ops@example.com", m))

	be.mu.Lock()
	msgs := append([]received{}, be.msgs...)
	be.mu.Unlock()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.tls || got.user != "hub" || got.from != "hub@example.com" || len(got.to) != 1 || got.to[0] != "ops@example.com" {
		t.Errorf("envelope = %+v", got)
	}
	if !strings.Contains(got.data, "Message-ID: <n-42@automation-hub>") {
		t.Errorf("message lacks its stable Message-ID:\n%s", got.data)
	}
	for _, want := range []string{"Subject: [WARN] FAILED — invoices", "Run failed: boom", "Since 2026-03-02T15:00:00Z",
		"Run: https://hub.example/runs/" + runID, "Robot: https://hub.example/robots/" + robotID} {
		if !strings.Contains(decodeQP(got.data), want) {
			t.Errorf("message lacks %q:\n%s", want, got.data)
		}
	}

	// Without STARTTLS the server refuses: the notice fails (and is retried).
	plain := cfg
	plain.TLS = "none"
	if err := (&alert.Email{Config: plain}).Send(ctx, "ops@example.com", m); err == nil {
		t.Error("sent without TLS to a server that requires it")
	}
}

// decodeQP returns a received message's subject and body, decoded.
func decodeQP(data string) string {
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		return data
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, _ := io.ReadAll(body)
	return "Subject: " + subject + "\n" + string(b)
}
