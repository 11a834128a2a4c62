// Package metrics defines the hub's Prometheus collectors on one explicit
// registry (no global state) and serves them.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"automationhub/internal/buildinfo"
	"automationhub/internal/diskspace"
	"automationhub/internal/hub"
)

// Metrics holds the registry and the collectors other packages update.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	buildInfo    *prometheus.GaugeVec

	once   sync.Once
	runObs *RunObserver

	cleanOnce sync.Once
	cleanObs  *CleanupObserver

	schedOnce sync.Once
	schedObs  *ScheduleObserver
}

// New creates a registry with the Go runtime and process collectors and the
// hub's own collectors; build labels hub_build_info.
func New(build buildinfo.Info) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hub_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hub_build_info",
			Help: "Always 1; the labels tell which hub build is running (commit and build_date are \"unknown\" when the binary was built without version control information).",
		}, []string{"version", "commit", "build_date", "goversion"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.buildInfo,
	)
	commit := build.Commit
	if build.Modified && commit != buildinfo.Unknown {
		commit += "-dirty"
	}
	m.buildInfo.WithLabelValues(build.Version, commit, build.Date, build.GoVersion).Set(1)
	return m
}

// ObserveHTTP records one served request. route is the matched pattern (not
// the raw path, so cardinality stays bounded).
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// StatsFunc reads the run and worker figures; it is called on every scrape.
type StatsFunc func(ctx context.Context) (hub.RunStats, error)

// statsCollector exports run and worker figures computed from the database,
// so the API's /metrics shows them whichever process ran the robots.
type statsCollector struct {
	fn                                       StatsFunc
	runs, queueDepth, oldest, lines, workers *prometheus.Desc
	waiting, poolInUse, poolCapacity         *prometheus.Desc
}

// RegisterRunStats adds the database-backed run and worker collectors.
func (m *Metrics) RegisterRunStats(fn StatsFunc) {
	m.Registry.MustRegister(&statsCollector{
		fn:         fn,
		runs:       prometheus.NewDesc("hub_runs", "Runs by status.", []string{"status"}, nil),
		queueDepth: prometheus.NewDesc("hub_queue_depth", "Runs waiting for a worker (PENDING).", nil, nil),
		oldest:     prometheus.NewDesc("hub_oldest_pending_run_age_seconds", "Age of the oldest PENDING run.", nil, nil),
		lines:      prometheus.NewDesc("hub_run_log_lines_total", "Log lines ingested so far.", nil, nil),
		workers:    prometheus.NewDesc("hub_workers", "Workers by heartbeat state.", []string{"state"}, nil),
		waiting: prometheus.NewDesc("hub_runs_waiting", "PENDING runs held back, by reason: pool (a resource pool is full), robot_limit "+
			"(max_concurrent_runs), schedule_limit (the schedule's max_concurrency), backoff (a retry waiting for its time) or worker "+
			"(no online worker with the robot's labels, or all busy or paused).", []string{"reason"}, nil),
		poolInUse:    prometheus.NewDesc("hub_pool_slots_in_use", "Slots of a resource pool held by RUNNING runs, fleet-wide.", []string{"pool"}, nil),
		poolCapacity: prometheus.NewDesc("hub_pool_capacity", "Slots of a resource pool.", []string{"pool"}, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.queueDepth, c.oldest, c.lines, c.workers, c.waiting, c.poolInUse, c.poolCapacity} {
		ch <- d
	}
}

// Collect implements prometheus.Collector; a failed query exports nothing.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.fn(ctx)
	if err != nil {
		return
	}
	for _, s := range []string{"PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELED"} {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.GaugeValue, float64(st.ByStatus[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(st.ByStatus["PENDING"]))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestPending)
	ch <- prometheus.MustNewConstMetric(c.lines, prometheus.CounterValue, float64(st.LogLines))
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(st.WorkersAlive), "alive")
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(st.WorkersStale), "stale")
	for _, reason := range []string{hub.WaitPool, hub.WaitRobotLimit, hub.WaitScheduleLimit, hub.WaitBackoff} {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(st.Waiting[reason]), reason)
	}
	for _, p := range st.Pools {
		ch <- prometheus.MustNewConstMetric(c.poolInUse, prometheus.GaugeValue, float64(p.InUse), p.Name)
		ch <- prometheus.MustNewConstMetric(c.poolCapacity, prometheus.GaugeValue, float64(p.Capacity), p.Name)
	}
}

// ScheduleObserver records what the scheduler of this process does.
type ScheduleObserver struct {
	lag     prometheus.Histogram
	skipped *prometheus.CounterVec
}

// ScheduleObserver returns the scheduler collectors (registered once).
func (m *Metrics) ScheduleObserver() *ScheduleObserver {
	m.schedOnce.Do(func() {
		m.schedObs = &ScheduleObserver{
			lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hub_schedule_fire_lag_seconds",
				Help:    "Time from a schedule's fire time to its run being stored, for the runs this process's scheduler started.",
				Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300}}),
			skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hub_schedule_fires_skipped_total",
				Help: "Due fires that started no run, by reason: overlap, queue_full, missed (catch-up), no_version, invalid."}, []string{"reason"}),
		}
		m.Registry.MustRegister(m.schedObs.lag, m.schedObs.skipped)
	})
	return m.schedObs
}

// Fired records a run started lag after its fire time.
func (o *ScheduleObserver) Fired(lag time.Duration) { o.lag.Observe(lag.Seconds()) }

// Skipped records a fire that started no run.
func (o *ScheduleObserver) Skipped(reason string) { o.skipped.WithLabelValues(reason).Inc() }

// RunObserver records run outcomes in the worker process.
type RunObserver struct {
	finished *prometheus.CounterVec
	duration prometheus.Histogram
}

// RunObserver returns the worker-side run collectors (registered once).
func (m *Metrics) RunObserver() *RunObserver {
	m.once.Do(func() {
		m.runObs = &RunObserver{
			finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hub_runs_finished_total", Help: "Runs this process finished, by status."}, []string{"status"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hub_run_duration_seconds", Help: "Duration of runs this process finished.",
				Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600}}),
		}
		m.Registry.MustRegister(m.runObs.finished, m.runObs.duration)
	})
	return m.runObs
}

// Finished records one finished run.
func (o *RunObserver) Finished(status string, d time.Duration) {
	if o == nil {
		return
	}
	o.finished.WithLabelValues(status).Inc()
	o.duration.Observe(d.Seconds())
}

// CleanupObserver records retention passes.
type CleanupObserver struct {
	rows, bytes      *prometheus.CounterVec
	duration, lastOK prometheus.Gauge
}

// CleanupObserver returns the cleanup collectors (registered once).
func (m *Metrics) CleanupObserver() *CleanupObserver {
	m.cleanOnce.Do(func() {
		m.cleanObs = &CleanupObserver{
			rows:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hub_cleanup_removed_rows_total", Help: "Rows removed by retention, by kind."}, []string{"kind"}),
			bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hub_cleanup_removed_bytes_total", Help: "Bytes of files removed by retention, by kind."}, []string{"kind"}),
			duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_cleanup_last_duration_seconds", Help: "Duration of the last retention pass."}),
			lastOK:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_cleanup_last_success_timestamp_seconds", Help: "Unix time of the last successful retention pass."}),
		}
		m.Registry.MustRegister(m.cleanObs.rows, m.cleanObs.bytes, m.cleanObs.duration, m.cleanObs.lastOK)
	})
	return m.cleanObs
}

// Removed adds what a pass removed of one kind.
func (o *CleanupObserver) Removed(kind string, rows, bytes int64) {
	o.rows.WithLabelValues(kind).Add(float64(rows))
	o.bytes.WithLabelValues(kind).Add(float64(bytes))
}

// PassDone records a finished pass.
func (o *CleanupObserver) PassDone(d time.Duration, ok bool) {
	o.duration.Set(d.Seconds())
	if ok {
		o.lastOK.SetToCurrentTime()
	}
}

// RegisterWorker adds the gauges of a worker in this process: its slots
// (WORKER_CONCURRENCY) and how many of them run a robot now (busy is called
// on every scrape).
func (m *Metrics) RegisterWorker(slots int, busy func() int) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hub_worker_slots", Help: "Runs this worker may execute at once (WORKER_CONCURRENCY)."},
			func() float64 { return float64(slots) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hub_worker_busy_slots", Help: "Runs this worker is executing now."},
			func() float64 { return float64(busy()) }),
	)
}

// Folder is a folder whose file system's space is exported.
type Folder struct {
	// Name is the folder label: "data" or "artifacts".
	Name string
	Path string
}

// RegisterDiskSpace exports the free and total bytes of the file systems
// that hold folders, measured on every scrape (a folder that cannot be
// measured is left out of that scrape).
func (m *Metrics) RegisterDiskSpace(folders ...Folder) {
	m.Registry.MustRegister(&diskCollector{
		folders: folders,
		free:    prometheus.NewDesc("hub_disk_free_bytes", "Bytes the hub may still write on the file system of a folder.", []string{"folder"}, nil),
		size:    prometheus.NewDesc("hub_disk_size_bytes", "Size of the file system of a folder, in bytes.", []string{"folder"}, nil),
	})
}

type diskCollector struct {
	folders    []Folder
	free, size *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.free; ch <- c.size }

// Collect implements prometheus.Collector.
func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.folders {
		u, err := diskspace.Of(f.Path)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(u.Free), f.Name)
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(u.Total), f.Name)
	}
}
