// Package alert watches robots, schedules, the queue and the workers, and
// tells people when something breaks. An SLA rule (one per robot) says how
// often the robot is expected to run and which of its failures to report;
// the Monitor (one process at a time fleet-wide) turns what it sees into
// alerts, exactly once per breach, and resolves them when the condition
// clears; every raise and recovery leaves one notice per channel in a
// durable outbox, which the Notifier delivers with retries (webhook signed
// with HMAC-SHA256, Microsoft Teams Adaptive Card, Slack, e-mail).
package alert

import (
	"context"
	"encoding/json"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Store is the persistence the alert service needs.
type Store interface {
	// RobotByID returns a robot; ENotFound "Robot not found.".
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	// CreateSLARule stores a rule; EInvalid "Robot already has an SLA
	// rule.", ENotFound "Robot not found.".
	CreateSLARule(ctx context.Context, r *hub.SLARule, ev *hub.AuditEvent) error
	// SLARuleByRobot returns a robot's rule; ENotFound "SLA rule not found.".
	SLARuleByRobot(ctx context.Context, robotID string) (*hub.SLARule, error)
	// UpdateSLARule stores a changed rule; ENotFound when it is gone.
	UpdateSLARule(ctx context.Context, r *hub.SLARule, ev *hub.AuditEvent) error
	// ListAlerts returns alerts newest first.
	ListAlerts(ctx context.Context, f hub.AlertFilter) ([]hub.Alert, error)
	// ResolveAlert closes an open alert; ENotFound "Alert not found.".
	ResolveAlert(ctx context.Context, id string, by *string, now time.Time, ev func(*hub.Alert) *hub.AuditEvent) (*hub.Alert, bool, error)
	// ListNotifications returns the newest notices.
	ListNotifications(ctx context.Context, status string, limit int) ([]hub.Notification, error)
	// Setting and PutSetting read and write an administrator's setting.
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string, by *string, now time.Time, ev *hub.AuditEvent) error
}

// SettingDefaultChannels is the hub setting that holds the default
// notification channels (JSON, as notify_channels_json).
const SettingDefaultChannels = "alerts.default_channels"

// Messages of the previous backend.
const (
	MsgExpectedRequired = "Provide expected_run_every_minutes or expected_daily_time."
)

// Service manages SLA rules, alerts and default channels, with the
// previous backend's permissions: robot.read / robot.publish on the rule's
// robot, run.read to list alerts (filtered to the robots the caller may
// read runs of), admin.manage to resolve them and to set channels.
type Service struct {
	store Store
	clock hub.Clock
	// HubKey derives the webhook signing secrets (SECRET_KEY).
	HubKey string
}

// New returns the alert service.
func New(store Store, clock hub.Clock) *Service {
	if clock == nil {
		clock = hub.SystemClock{}
	}
	return &Service{store: store, clock: clock}
}

func forbidden() error { return hub.Errorf(hub.EForbidden, identity.MsgForbidden) }

func (s *Service) robotFor(ctx context.Context, p *hub.Principal, robotID string, perm hub.Permission) (*hub.Robot, error) {
	id, err := uuid.Parse(robotID)
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	return rbac.LoadRobot(ctx, p, id.String(), perm, s.store.RobotByID, forbidden())
}

// RuleInput is an SLA rule as a caller gives it. In a change nil means
// "keep" unless Present names the field (an explicit null).
type RuleInput struct {
	ExpectedRunEveryMinutes *int
	ExpectedDailyTime       *string
	LateAfterMinutes        *int
	AlertOnFailure          *bool
	AlertOnLate             *bool
	MaxRunMinutes           *int
	Channels                json.RawMessage
	// Present names the fields sent, null ones included (PATCH).
	Present map[string]bool
}

var dailyTime = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d$`)

// checkRule validates a merged rule.
func checkRule(r *hub.SLARule) error {
	switch {
	case r.ExpectedRunEveryMinutes != nil && (*r.ExpectedRunEveryMinutes < 1 || *r.ExpectedRunEveryMinutes > 10080):
		return hub.Errorf(hub.EUnprocessable, "expected_run_every_minutes must be between 1 and 10080.")
	case r.ExpectedDailyTime != nil && !dailyTime.MatchString(*r.ExpectedDailyTime):
		return hub.Errorf(hub.EUnprocessable, "expected_daily_time must be HH:MM.")
	case r.LateAfterMinutes < 1 || r.LateAfterMinutes > 720:
		return hub.Errorf(hub.EUnprocessable, "late_after_minutes must be between 1 and 720.")
	case r.MaxRunMinutes != nil && (*r.MaxRunMinutes < 1 || *r.MaxRunMinutes > 10080):
		return hub.Errorf(hub.EUnprocessable, "max_run_minutes must be between 1 and 10080.")
	}
	return nil
}

// ParseChannels reads notify_channels_json: an object whose keys are
// webhook, teams, slack (http(s) URLs) and email (addresses), each a list.
// EInvalid with what is wrong otherwise.
func ParseChannels(raw json.RawMessage) (hub.NotifyChannels, error) {
	var c hub.NotifyChannels
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return c, hub.Errorf(hub.EInvalid, "notify_channels_json must be an object.")
	}
	for k, v := range m {
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return c, hub.Errorf(hub.EInvalid, "notify_channels_json.%s must be a list of strings.", k)
		}
		if len(list) > 20 {
			return c, hub.Errorf(hub.EInvalid, "notify_channels_json.%s has more than 20 entries.", k)
		}
		for i, t := range list {
			t = strings.TrimSpace(t)
			list[i] = t
			switch k {
			case hub.ChannelWebhook, hub.ChannelTeams, hub.ChannelSlack:
				u, err := url.Parse(t)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(t) > 2000 {
					return c, hub.Errorf(hub.EInvalid, "notify_channels_json.%s: %q is not an http(s) URL.", k, t)
				}
			case hub.ChannelEmail:
				a, err := mail.ParseAddress(t)
				if err != nil || a.Address != t {
					return c, hub.Errorf(hub.EInvalid, "notify_channels_json.email: %q is not an e-mail address.", t)
				}
			}
		}
		switch k {
		case hub.ChannelWebhook:
			c.Webhook = list
		case hub.ChannelTeams:
			c.Teams = list
		case hub.ChannelSlack:
			c.Slack = list
		case hub.ChannelEmail:
			c.Email = list
		default:
			return c, hub.Errorf(hub.EInvalid, "notify_channels_json: unknown channel %q (webhook, teams, slack, email).", k)
		}
	}
	return c, nil
}

// CreateRule gives a robot its SLA rule (robot.publish on it). At least one
// expected_* is needed (422), then the robot must exist (404) and have no
// rule yet (400).
func (s *Service) CreateRule(ctx context.Context, p *hub.Principal, robotID string, in RuleInput) (*hub.SLARule, error) {
	if _, err := uuid.Parse(robotID); err != nil {
		return nil, hub.Errorf(hub.EInvalid, "robot_id invalido.")
	}
	if !rbac.Has(p, hub.PermRobotPublish) {
		return nil, forbidden()
	}
	now := s.clock.Now()
	r := &hub.SLARule{ID: uuid.NewString(), LateAfterMinutes: 15, AlertOnFailure: true, AlertOnLate: true, CreatedBy: p.UserID(),
		CreatedAt: now, UpdatedAt: now}
	if err := apply(r, in, true); err != nil {
		return nil, err
	}
	if r.ExpectedRunEveryMinutes == nil && r.ExpectedDailyTime == nil {
		return nil, hub.Errorf(hub.EUnprocessable, MsgExpectedRequired)
	}
	if err := checkRule(r); err != nil {
		return nil, err
	}
	robot, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	r.RobotID = robot.ID
	ev := audit.Event(p, "sla.created", "sla_rule", r.ID, map[string]any{"robot_id": robot.ID, "sla_id": r.ID}, now)
	if err := s.store.CreateSLARule(ctx, r, ev); err != nil {
		return nil, err
	}
	return r, nil
}

// apply copies the given fields of in onto r; on create absent and null
// fields keep the defaults.
func apply(r *hub.SLARule, in RuleInput, create bool) error {
	set := func(name string, isNil bool) bool { return !isNil || (!create && in.Present[name]) }
	if set("expected_run_every_minutes", in.ExpectedRunEveryMinutes == nil) {
		r.ExpectedRunEveryMinutes = in.ExpectedRunEveryMinutes
	}
	if set("expected_daily_time", in.ExpectedDailyTime == nil) {
		r.ExpectedDailyTime = in.ExpectedDailyTime
	}
	if set("max_run_minutes", in.MaxRunMinutes == nil) {
		r.MaxRunMinutes = in.MaxRunMinutes
	}
	for name, isNull := range map[string]bool{"late_after_minutes": in.LateAfterMinutes == nil, "alert_on_failure": in.AlertOnFailure == nil,
		"alert_on_late": in.AlertOnLate == nil} {
		if isNull && !create && in.Present[name] {
			return hub.Errorf(hub.EUnprocessable, "%s may not be null.", name)
		}
	}
	if in.LateAfterMinutes != nil {
		r.LateAfterMinutes = *in.LateAfterMinutes
	}
	if in.AlertOnFailure != nil {
		r.AlertOnFailure = *in.AlertOnFailure
	}
	if in.AlertOnLate != nil {
		r.AlertOnLate = *in.AlertOnLate
	}
	if in.Channels != nil || (!create && in.Present["notify_channels_json"]) {
		c, err := ParseChannels(in.Channels)
		if err != nil {
			return err
		}
		r.Channels = c
	}
	return nil
}

// GetRule returns a robot's SLA rule (robot.read on it).
func (s *Service) GetRule(ctx context.Context, p *hub.Principal, robotID string) (*hub.SLARule, error) {
	robot, err := s.robotFor(ctx, p, robotID, hub.PermRobotRead)
	if err != nil {
		return nil, err
	}
	return s.store.SLARuleByRobot(ctx, robot.ID)
}

// UpdateRule changes the fields given (robot.publish on the robot); the
// merged rule needs one expected_* (400).
func (s *Service) UpdateRule(ctx context.Context, p *hub.Principal, robotID string, in RuleInput) (*hub.SLARule, error) {
	robot, err := s.robotFor(ctx, p, robotID, hub.PermRobotPublish)
	if err != nil {
		return nil, err
	}
	r, err := s.store.SLARuleByRobot(ctx, robot.ID)
	if err != nil {
		return nil, err
	}
	if err := apply(r, in, false); err != nil {
		return nil, err
	}
	if r.ExpectedRunEveryMinutes == nil && r.ExpectedDailyTime == nil {
		return nil, hub.Errorf(hub.EInvalid, MsgExpectedRequired)
	}
	if err := checkRule(r); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	r.UpdatedAt = now
	ev := audit.Event(p, "sla.updated", "sla_rule", r.ID, map[string]any{"robot_id": robot.ID, "sla_id": r.ID}, now)
	if err := s.store.UpdateSLARule(ctx, r, ev); err != nil {
		return nil, err
	}
	return r, nil
}

// ListAlerts returns alerts newest first (run.read), limited to the robots
// the caller may read runs of; alerts about the queue and workers only to
// callers who may read every robot's runs.
func (s *Service) ListAlerts(ctx context.Context, p *hub.Principal, f hub.AlertFilter) ([]hub.Alert, error) {
	if !rbac.Has(p, hub.PermRunRead) {
		return nil, forbidden()
	}
	switch f.Status {
	case "", "open", "resolved":
	default:
		return nil, hub.Errorf(hub.EUnprocessable, "status must be open or resolved.")
	}
	if f.RobotID != "" {
		id, err := uuid.Parse(f.RobotID)
		if err != nil {
			return nil, hub.Errorf(hub.EUnprocessable, "robot_id must be a UUID.")
		}
		f.RobotID = id.String()
	}
	if f.Limit < 1 || f.Limit > 1000 {
		f.Limit = 200
	}
	f.Scope = rbac.Scope(p, hub.PermRunRead)
	return s.store.ListAlerts(ctx, f)
}

// Resolve closes an alert by hand (admin.manage); an alert already
// resolved is returned as it is.
func (s *Service) Resolve(ctx context.Context, p *hub.Principal, alertID string) (*hub.Alert, error) {
	if !rbac.Has(p, hub.PermAdminManage) {
		return nil, forbidden()
	}
	id, err := uuid.Parse(alertID)
	if err != nil {
		return nil, hub.Errorf(hub.ENotFound, "Alert not found.")
	}
	now := s.clock.Now()
	a, _, err := s.store.ResolveAlert(ctx, id.String(), p.UserID(), now, func(a *hub.Alert) *hub.AuditEvent {
		var robot any
		if a.RobotID != nil {
			robot = *a.RobotID
		}
		return audit.Event(p, "alert.resolved", "alert", a.ID, map[string]any{"alert_id": a.ID, "robot_id": robot, "type": a.Type}, now)
	})
	return a, err
}

// DefaultChannels returns the channels every alert's notices go to
// besides its rule's (admin.manage).
func (s *Service) DefaultChannels(ctx context.Context, p *hub.Principal) (hub.NotifyChannels, error) {
	if !rbac.Has(p, hub.PermAdminManage) {
		return hub.NotifyChannels{}, forbidden()
	}
	return LoadDefaultChannels(ctx, s.store)
}

// SettingReader reads a hub setting.
type SettingReader interface {
	Setting(ctx context.Context, key string) (string, bool, error)
}

// LoadDefaultChannels reads the default channels setting.
func LoadDefaultChannels(ctx context.Context, st SettingReader) (hub.NotifyChannels, error) {
	v, ok, err := st.Setting(ctx, SettingDefaultChannels)
	if err != nil || !ok {
		return hub.NotifyChannels{}, err
	}
	var c hub.NotifyChannels
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return hub.NotifyChannels{}, hub.Errorf(hub.EInternal, "default channels: %v", err)
	}
	return c, nil
}

// SetDefaultChannels replaces the default channels (admin.manage); audit
// "alert.channels_updated".
func (s *Service) SetDefaultChannels(ctx context.Context, p *hub.Principal, raw json.RawMessage) (hub.NotifyChannels, error) {
	if !rbac.Has(p, hub.PermAdminManage) {
		return hub.NotifyChannels{}, forbidden()
	}
	c, err := ParseChannels(raw)
	if err != nil {
		return c, err
	}
	b, _ := json.Marshal(c)
	now := s.clock.Now()
	ev := audit.Event(p, "alert.channels_updated", "setting", SettingDefaultChannels, map[string]any{
		"webhook": len(c.Webhook), "teams": len(c.Teams), "slack": len(c.Slack), "email": len(c.Email)}, now)
	return c, s.store.PutSetting(ctx, SettingDefaultChannels, string(b), p.UserID(), now, ev)
}

// Notifications lists the newest notices of one status or all (admin.manage).
func (s *Service) Notifications(ctx context.Context, p *hub.Principal, status string, limit int) ([]hub.Notification, error) {
	if !rbac.Has(p, hub.PermAdminManage) {
		return nil, forbidden()
	}
	switch status {
	case "", hub.NotifyPending, hub.NotifySent, hub.NotifyFailed:
	default:
		return nil, hub.Errorf(hub.EUnprocessable, "status must be PENDING, SENT or FAILED.")
	}
	if limit < 1 || limit > 1000 {
		limit = 200
	}
	return s.store.ListNotifications(ctx, status, limit)
}

// WebhookSecret returns the signing secret of a webhook URL (admin.manage).
func (s *Service) WebhookSecret(p *hub.Principal, target string) (string, error) {
	if !rbac.Has(p, hub.PermAdminManage) {
		return "", forbidden()
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", hub.Errorf(hub.EInvalid, "url must be an http(s) URL.")
	}
	if s.HubKey == "" {
		return "", hub.Errorf(hub.EConflict, "Webhook signing needs SECRET_KEY.")
	}
	return WebhookSecret(s.HubKey, target), nil
}
