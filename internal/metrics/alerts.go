package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AlertFigures are the alert and notification figures read at scrape
// time from the database (the same for every process of a fleet).
type AlertFigures struct {
	// OpenByType counts open alerts per type.
	OpenByType map[string]int64
	// Notifications counts notices by [channel, status] (PENDING, SENT, FAILED).
	Notifications map[[2]string]int64
}

// AlertsFunc reads the alert figures.
type AlertsFunc func(ctx context.Context) (AlertFigures, error)

type alertsCollector struct {
	fn            AlertsFunc
	types         []string
	open          *prometheus.Desc
	notifications *prometheus.Desc
}

// RegisterAlerts exports hub_alerts_open{type} and
// hub_notifications{channel,status}, read by fn at every scrape; types
// are the alert types always exported (0 when none is open).
func (m *Metrics) RegisterAlerts(types []string, fn AlertsFunc) {
	m.Registry.MustRegister(&alertsCollector{
		fn:    fn,
		types: types,
		open:  prometheus.NewDesc("hub_alerts_open", "Open alerts by type.", []string{"type"}, nil),
		notifications: prometheus.NewDesc("hub_notifications", "Alert notices in the outbox by channel and state: SENT (delivered), "+
			"FAILED (given up after its retries) and PENDING (waiting for its next attempt).", []string{"channel", "status"}, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *alertsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.notifications
}

// Collect implements prometheus.Collector; a failed query exports nothing.
func (c *alertsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := c.fn(ctx)
	if err != nil {
		return
	}
	for _, t := range c.types {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(f.OpenByType[t]), t)
	}
	for _, channel := range []string{"webhook", "teams", "slack", "email"} {
		for _, st := range []string{"PENDING", "SENT", "FAILED"} {
			ch <- prometheus.MustNewConstMetric(c.notifications, prometheus.GaugeValue, float64(f.Notifications[[2]string{channel, st}]), channel, st)
		}
	}
}
