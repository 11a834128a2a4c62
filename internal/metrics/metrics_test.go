package metrics_test

import (
	"strings"
	"testing"

	"automationhub/internal/buildinfo"
	"automationhub/internal/metrics"
)

func TestBuildWorkerAndDiskGauges(t *testing.T) {
	t.Parallel()
	m := metrics.New(buildinfo.Info{Version: "1.4.0", Commit: "0123456789abcdef", Modified: true,
		Date: "2026-11-30T10:00:00Z", GoVersion: "go1.26.8"})
	busy := 2
	m.RegisterWorker(4, func() int { return busy })
	dir := t.TempDir()
	m.RegisterDiskSpace(metrics.Folder{Name: "data", Path: dir}, metrics.Folder{Name: "gone", Path: dir + "/missing"})

	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	value := map[string]float64{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			value[f.GetName()] = s.GetGauge().GetValue()
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[f.GetName()] = append(got[f.GetName()], strings.Join(labels, ","))
		}
	}
	if b := got["hub_build_info"]; len(b) != 1 || b[0] != "build_date=2026-11-30T10:00:00Z,commit=0123456789abcdef-dirty,goversion=go1.26.8,version=1.4.0" {
		t.Errorf("hub_build_info: got %v", b)
	}
	if value["hub_worker_slots"] != 4 || value["hub_worker_busy_slots"] != 2 {
		t.Errorf("worker gauges: got %v slots, %v busy; want 4, 2", value["hub_worker_slots"], value["hub_worker_busy_slots"])
	}
	// The folder that cannot be measured is left out; the other is there.
	for _, name := range []string{"hub_disk_free_bytes", "hub_disk_size_bytes"} {
		if s := got[name]; len(s) != 1 || s[0] != "folder=data" {
			t.Errorf("%s: got series %v, want one for folder=data", name, s)
		}
	}
}
