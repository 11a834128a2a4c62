package schedule_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"automationhub/internal/hub"
	"automationhub/internal/schedule"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func strp(s string) *string { return &s }

func TestNormalizeCron(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, err string
	}{
		{"* * * * *", "* * * * *", ""},
		{"  */5   8-18 * * mon-fri ", "*/5 8-18 * * mon-fri", ""},
		{"@hourly", "0 * * * *", ""},
		{"@DAILY", "0 0 * * *", ""},
		{"0 9 * * 1,3,5", "0 9 * * 1,3,5", ""},
		{"* * * *", "", "cron_expr must have exactly 5 fields."},
		{"0 * * * * *", "", "cron_expr must have exactly 5 fields."},
		{"*/0 * * * *", "", "cron_expr contains invalid field syntax."},
		{"61 * * * *", "", "cron_expr contains invalid field syntax."},
		{"* 24 * * *", "", "cron_expr contains invalid field syntax."},
		{"* * 0 * *", "", "cron_expr contains invalid field syntax."},
		{"* * * 13 *", "", "cron_expr contains invalid field syntax."},
		{"a b c d e", "", "cron_expr contains invalid field syntax."},
		{"@every5", "", "cron_expr contains invalid field syntax."},
		{"@everysecond", "", "cron_expr contains invalid field syntax."},
	}
	for _, tt := range tests {
		got, err := schedule.NormalizeCron(tt.in)
		if tt.err != "" {
			if hub.ErrorKind(err) != hub.EInvalid || hub.ErrorMessage(err) != tt.err {
				t.Errorf("NormalizeCron(%q) error = %v, want 400 %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeCron(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoadZone(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"UTC", "Europe/Lisbon", "America/New_York", "America/Sao_Paulo"} {
		if _, err := schedule.LoadZone(ok); err != nil {
			t.Errorf("LoadZone(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus", "Europe/Lisboa", "../etc/passwd"} {
		if _, err := schedule.LoadZone(bad); hub.ErrorKind(err) != hub.EInvalid {
			t.Errorf("LoadZone(%q) error = %v, want EInvalid", bad, err)
		}
	}
}

// TestNextAcrossDaylightSaving follows fires through the 2026 clock changes
// of Europe/Lisbon (29 March: 01:00 WET becomes 02:00 WEST; 25 October:
// 02:00 WEST becomes 01:00 WET) and America/New_York (8 March: 02:00 EST
// becomes 03:00 EDT; 1 November: 02:00 EDT becomes 01:00 EST).
func TestNextAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, tz string
		after          string
		n              int
		want           []string // UTC
	}{
		{"Lisbon gap: 01:30 does not exist, fires once at 02:00 WEST", "30 1 * * *", "Europe/Lisbon", "2026-03-28T12:00:00Z", 3,
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
		{"Lisbon gap: every 15 minutes, the skipped hour fires once", "*/15 * * * *", "Europe/Lisbon", "2026-03-29T00:40:00Z", 4,
			[]string{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"}},
		{"Lisbon gap: 01:00 to 01:59 every minute becomes one fire at 02:00", "* 1 * * *", "Europe/Lisbon", "2026-03-29T00:58:00Z", 2,
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"}},
		{"Lisbon repeat: 01:30 happens twice, fires once (first, WEST)", "30 1 * * *", "Europe/Lisbon", "2026-10-24T12:00:00Z", 3,
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"}},
		{"Lisbon repeat: every minute skips the repeated hour", "* * * * *", "Europe/Lisbon", "2026-10-25T00:58:00Z", 3,
			[]string{"2026-10-25T00:59:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:01:00Z"}},
		{"Lisbon repeat: hourly fires once in the repeated hour", "0 * * * *", "Europe/Lisbon", "2026-10-24T23:30:00Z", 3,
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"New York gap: 02:30 fires at 03:00 EDT", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2,
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"New York gap: 02:00 and 03:00 are one instant", "0 2,3 * * *", "America/New_York", "2026-03-08T05:00:00Z", 3,
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T07:00:00Z"}},
		{"New York repeat: 01:30 fires once (EDT)", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2,
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"from inside the second pass of the repeated hour", "30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", 1,
			[]string{"2026-11-02T06:30:00Z"}},
		{"UTC leap day", "0 0 29 2 *", "UTC", "2026-03-07T12:00:00Z", 2, []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"strictly after", "0 * * * *", "UTC", "2026-01-01T10:00:00Z", 1, []string{"2026-01-01T11:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := schedule.NewSpec(tt.expr, tt.tz, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range spec.NextN(utc(tt.after), tt.n) {
				got = append(got, f.Format(time.RFC3339))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fires after %s (-want +got):\n%s", tt.after, diff)
			}
		})
	}
}

func TestNextInWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, tz, from, to, after string
		want                            []string
	}{
		{"daytime window, ends inclusive", "*/30 * * * *", "UTC", "09:00", "10:00", "2026-05-04T08:00:00Z",
			[]string{"2026-05-04T09:00:00Z", "2026-05-04T09:30:00Z", "2026-05-04T10:00:00Z", "2026-05-05T09:00:00Z"}},
		{"overnight window", "0 * * * *", "UTC", "22:00", "01:00", "2026-05-04T12:00:00Z",
			[]string{"2026-05-04T22:00:00Z", "2026-05-04T23:00:00Z", "2026-05-05T00:00:00Z", "2026-05-05T01:00:00Z", "2026-05-05T22:00:00Z"}},
		{"window in local time", "0 * * * *", "America/Sao_Paulo", "08:00", "09:00", "2026-05-04T00:00:00Z",
			[]string{"2026-05-04T11:00:00Z", "2026-05-04T12:00:00Z", "2026-05-05T11:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := schedule.NewSpec(tt.expr, tt.tz, strp(tt.from), strp(tt.to))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range spec.NextN(utc(tt.after), len(tt.want)) {
				got = append(got, f.Format(time.RFC3339))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fires (-want +got):\n%s", diff)
			}
		})
	}
	// A cron that never meets its window never fires.
	spec, err := schedule.NewSpec("0 3 * * *", "UTC", strp("09:00"), strp("17:00"))
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := spec.Next(utc("2026-05-04T00:00:00Z")); ok {
		t.Errorf("Next = %s, want none", at)
	}
	if _, err := schedule.NewSpec("* * * * *", "UTC", strp("09:00"), nil); hub.ErrorMessage(err) != schedule.MsgWindowPair {
		t.Errorf("one window end: %v", err)
	}
}

func TestPlanCatchup(t *testing.T) {
	t.Parallel()
	spec, err := schedule.NewSpec("*/10 * * * *", "UTC", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	tests := []struct {
		name, catchup string
		window        time.Duration
		due, now      string
		want          []string
		next          string
	}{
		{"on time", hub.CatchupLatest, hour, "2026-05-04T10:00:00Z", "2026-05-04T10:00:00.3Z", []string{"2026-05-04T10:00:00Z"}, "2026-05-04T10:10:00Z"},
		{"late but in grace, none", hub.CatchupNone, hour, "2026-05-04T10:00:00Z", "2026-05-04T10:00:50Z", []string{"2026-05-04T10:00:00Z"}, "2026-05-04T10:10:00Z"},
		{"missed, none", hub.CatchupNone, hour, "2026-05-04T10:00:00Z", "2026-05-04T10:35:00Z", nil, "2026-05-04T10:40:00Z"},
		{"missed, latest", hub.CatchupLatest, hour, "2026-05-04T10:00:00Z", "2026-05-04T10:35:00Z", []string{"2026-05-04T10:30:00Z"}, "2026-05-04T10:40:00Z"},
		{"missed beyond the window, latest", hub.CatchupLatest, 5 * time.Minute, "2026-05-04T10:00:00Z", "2026-05-04T10:38:00Z", nil, "2026-05-04T10:40:00Z"},
		{"missed, all", hub.CatchupAll, hour, "2026-05-04T10:00:00Z", "2026-05-04T10:35:00Z",
			[]string{"2026-05-04T10:00:00Z", "2026-05-04T10:10:00Z", "2026-05-04T10:20:00Z", "2026-05-04T10:30:00Z"}, "2026-05-04T10:40:00Z"},
		{"missed, all within the window", hub.CatchupAll, 20 * time.Minute, "2026-05-04T10:00:00Z", "2026-05-04T10:35:00Z",
			[]string{"2026-05-04T10:20:00Z", "2026-05-04T10:30:00Z"}, "2026-05-04T10:40:00Z"},
		{"a week down, all is bounded", hub.CatchupAll, 7 * 24 * hour, "2026-05-04T10:00:00Z", "2026-05-11T10:05:00Z", nil, "2026-05-11T10:10:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fires, next := schedule.Plan(spec, tt.catchup, tt.window, utc(tt.due), mustTime(tt.now))
			var got []string
			for _, f := range fires {
				got = append(got, f.Format(time.RFC3339))
			}
			if tt.name == "a week down, all is bounded" {
				if len(got) != schedule.MaxCatchupFires || got[len(got)-1] != "2026-05-11T10:00:00Z" {
					t.Errorf("got %d fires ending %v, want the latest %d", len(got), got[len(got)-1:], schedule.MaxCatchupFires)
				}
			} else if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fires (-want +got):\n%s", diff)
			}
			if next == nil || next.Format(time.RFC3339) != tt.next {
				t.Errorf("next = %v, want %s", next, tt.next)
			}
		})
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestDecideOverlap(t *testing.T) {
	t.Parallel()
	due := utc("2026-05-04T10:00:00Z")
	base := hub.Schedule{CronExpr: "*/10 * * * *", Timezone: "UTC", MaxConcurrency: 1, Catchup: hub.CatchupLatest, CatchupWindowSecs: 3600, NextFireAt: &due}
	tests := []struct {
		policy  string
		load    hub.ScheduleLoad
		fires   int
		cancel  bool
		skipped string
	}{
		{hub.OverlapSkip, hub.ScheduleLoad{}, 1, false, ""},
		{hub.OverlapSkip, hub.ScheduleLoad{Running: 1}, 0, false, "overlap"},
		{hub.OverlapQueue, hub.ScheduleLoad{Running: 1}, 1, false, ""},
		{hub.OverlapQueue, hub.ScheduleLoad{Running: 1, Pending: 1}, 0, false, "queue_full"},
		{hub.OverlapCancelPrevious, hub.ScheduleLoad{Running: 1}, 1, true, ""},
		{hub.OverlapCancelPrevious, hub.ScheduleLoad{}, 1, false, ""},
	}
	for _, tt := range tests {
		sc := base
		sc.OverlapPolicy = tt.policy
		d := schedule.Decide(&sc, tt.load, due.Add(time.Second))
		if len(d.Fires) != tt.fires || d.CancelActive != tt.cancel || d.Skipped != tt.skipped {
			t.Errorf("%s with %+v: fires %d cancel %v skipped %q; want %d %v %q", tt.policy, tt.load, len(d.Fires), d.CancelActive, d.Skipped, tt.fires, tt.cancel, tt.skipped)
		}
		if d.Next == nil || !d.Next.Equal(utc("2026-05-04T10:10:00Z")) {
			t.Errorf("%s: next = %v", tt.policy, d.Next)
		}
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, en, pt string }{
		{"* * * * *", "Every minute", "A cada minuto"},
		{"*/5 * * * *", "Every 5 minutes", "A cada 5 minutos"},
		{"30 8 * * *", "At 08:30 every day", "Às 08:30 todos os dias"},
		{"0 9 * * MON-FRI", "At 09:00 on Monday–Friday", "Às 09:00 em segunda-feira–sexta-feira"},
		{"@monthly", "At 00:00 on day 1 of the month", "Às 00:00 no dia 1 do mês"},
		{"bad", "", ""},
	}
	for _, tt := range tests {
		if got := schedule.Describe(tt.expr, "en"); got != tt.en {
			t.Errorf("Describe(%q, en) = %q, want %q", tt.expr, got, tt.en)
		}
		if got := schedule.Describe(tt.expr, "pt-BR"); got != tt.pt {
			t.Errorf("Describe(%q, pt-BR) = %q, want %q", tt.expr, got, tt.pt)
		}
	}
}
