package main

import (
	"context"
	"net/http"
	"time"

	"automationhub/internal/alert"
	"automationhub/internal/hub"
	"automationhub/internal/metrics"
	"automationhub/internal/schedule"
	"automationhub/internal/sqlstore"
	"automationhub/internal/stats"
)

// alerting is the alert monitor, the notification outbox and the services
// the API serves them with; one per hub serve process (the monitor and the
// outbox each work under a fleet-wide lock).
type alerting struct {
	db       *sqlstore.DB
	service  *alert.Service
	stats    *stats.Service
	monitor  *alert.Monitor
	notifier *alert.Notifier

	notifierConfig alert.NotifierConfig
}

// newAlerting wires alerts for a serve process; secret is SECRET_KEY (it
// derives the webhook signing secrets).
func (m *Main) newAlerting(secret string) *alerting {
	cfg := m.Config
	loc, err := time.LoadLocation(cfg.AppTimezone)
	if err != nil {
		loc = time.UTC
	}
	svc := alert.New(m.db, nil)
	svc.HubKey = secret
	httpClient := &http.Client{Timeout: 20 * time.Second}
	st := stats.New(m.db, nil, loc)
	a := &alerting{
		db:      m.db,
		service: svc,
		stats:   st,
		monitor: alert.NewMonitor(m.db, alert.MonitorConfig{
			Interval:          time.Duration(cfg.SLAMonitorIntervalSeconds) * time.Second,
			FailureStreak:     cfg.FailureStreakThreshold,
			QueueBacklogAfter: time.Duration(cfg.QueueBacklogAlertSeconds) * time.Second,
			WorkerStaleAfter:  time.Duration(cfg.WorkerStaleSeconds) * time.Second,
			Location:          loc,
			NextFireFunc: func(s hub.ScheduleState, after time.Time) (time.Time, bool) {
				spec, err := schedule.NewSpec(s.CronExpr, s.Timezone, s.WindowStart, s.WindowEnd)
				if err != nil {
					return time.Time{}, false
				}
				return spec.Next(after)
			},
			AfterPassFunc: func(ctx context.Context) error { return st.EnsureDays(ctx, 31) },
			Logger:        m.Logger,
		}),
	}
	a.notifierConfig = alert.NotifierConfig{
		Senders: map[string]alert.Sender{
			hub.ChannelWebhook: &alert.Webhook{Client: httpClient, SecretFunc: func(url string) string { return alert.WebhookSecret(secret, url) }},
			hub.ChannelTeams:   &alert.Teams{Client: httpClient},
			hub.ChannelSlack:   &alert.Slack{Client: httpClient},
			hub.ChannelEmail: &alert.Email{Config: alert.SMTPConfig{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername,
				Password: cfg.SMTPPassword, From: cfg.SMTPFrom, TLS: cfg.SMTPTLS}},
		},
		Logger: m.Logger,
	}
	m.metrics.RegisterAlerts(hub.AlertTypes, func(ctx context.Context) (metrics.AlertFigures, error) {
		open, err := m.db.OpenAlertsByType(ctx)
		if err != nil {
			return metrics.AlertFigures{}, err
		}
		n, err := m.db.NotificationCounts(ctx)
		return metrics.AlertFigures{OpenByType: open, Notifications: n}, err
	})
	return a
}

// start launches the monitor and the outbox; notices link to publicURL.
func (a *alerting) start(ctx context.Context, publicURL string) error {
	a.notifierConfig.PublicURL = publicURL
	a.notifier = alert.NewNotifier(a.db, a.notifierConfig)
	if err := a.monitor.Start(ctx); err != nil {
		return err
	}
	return a.notifier.Start(ctx)
}

// stop ends them (a delivery in progress ends at its timeout).
func (a *alerting) stop(ctx context.Context) {
	_ = a.monitor.Stop(ctx)
	if a.notifier != nil {
		_ = a.notifier.Stop(ctx)
	}
}
