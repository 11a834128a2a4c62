package webui

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"automationhub/internal/httpapi"
	"automationhub/internal/hub"
)

func (u *UI) alertRoutes() {
	m := u.mux
	m.Handle("GET /dashboard", u.page(u.dashboardPage))
	m.Handle("GET /alerts", u.page(u.alertsPage))
	m.Handle("POST /alerts/{id}/resolve", u.page(u.alertResolve))
	m.Handle("POST /alerts/channels", u.page(u.channelsSave))
	m.Handle("GET /robots/{id}/sla", u.page(u.slaPage))
	m.Handle("POST /robots/{id}/sla", u.page(u.slaSave))
}

type dashboardView struct {
	Days     int
	Overview httpapi.OverviewRead
	Daily    []httpapi.DayRead
	Chart    template.HTML
	Robots   []figuresRow
	Services []figuresRow
	Failures []httpapi.FailureRead
}

// figuresRow is one line of the dashboard's tables: the 30-day figures
// with their small chart, and the 7-day ones beside them.
type figuresRow struct {
	httpapi.FiguresRead
	Week  *httpapi.FiguresRead
	Chart template.HTML
}

func (u *UI) dashboardPage(q *request) error {
	days := 7
	if q.r.URL.Query().Get("days") == "30" {
		days = 30
	}
	v := dashboardView{Days: days}
	w := fmt.Sprintf("?days=%d", days)
	if err := q.call(http.MethodGet, "/stats/overview", nil, &v.Overview); err != nil {
		return err
	}
	if err := q.call(http.MethodGet, "/stats/daily"+w, nil, &v.Daily); err != nil {
		return err
	}
	v.Chart = barChart(v.Daily, 640, 120, true)
	for _, x := range []struct {
		path string
		out  *[]figuresRow
	}{{"/stats/robots", &v.Robots}, {"/stats/services", &v.Services}} {
		var month, week []httpapi.FiguresRead
		if err := q.call(http.MethodGet, x.path+"?days=30", nil, &month); err != nil {
			return err
		}
		if err := q.call(http.MethodGet, x.path+"?days=7", nil, &week); err != nil {
			return err
		}
		byID := map[string]*httpapi.FiguresRead{}
		for i := range week {
			byID[week[i].ID] = &week[i]
		}
		for _, f := range month {
			*x.out = append(*x.out, figuresRow{FiguresRead: f, Week: byID[f.ID], Chart: barChart(f.Daily, 150, 28, false)})
		}
	}
	if err := q.call(http.MethodGet, "/stats/failures"+w+"&limit=15", nil, &v.Failures); err != nil {
		return err
	}
	u.render(q, http.StatusOK, "dashboard", v)
	return nil
}

// barChart draws runs per day as stacked bars (successes below, failures
// above) in SVG, from numbers only; labels show on the large chart.
func barChart(days []httpapi.DayRead, width, height int, labels bool) template.HTML {
	if len(days) == 0 {
		return ""
	}
	var peak int64 = 1
	for _, d := range days {
		peak = max(peak, d.Success+d.Failed+d.Canceled)
	}
	bottom := height
	if labels {
		bottom = height - 14
	}
	slot := float64(width) / float64(len(days))
	bw := math.Max(1, slot*0.8)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="runs per day">`, width, height, width, height)
	scale := float64(bottom-2) / float64(peak)
	for i, d := range days {
		x := float64(i)*slot + (slot-bw)/2
		y := float64(bottom)
		for _, part := range []struct {
			n     int64
			class string
		}{{d.Success, "ok"}, {d.Failed, "fail"}, {d.Canceled, "cancel"}} {
			if part.n == 0 {
				continue
			}
			h := float64(part.n) * scale
			y -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
				part.class, x, y, bw, h, d.Day, part.n)
		}
		if labels && (len(days) <= 10 || i%5 == 0 || i == len(days)-1) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+bw/2, height-2, d.Day[5:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and day keys only
}

type alertsView struct {
	Alerts []httpapi.AlertRead
	// Notices are the newest notifications and Defaults the default
	// channels (administrators only).
	Notices  []httpapi.NotificationRead
	Defaults slaForm
	Saved    bool
	Error    string
	Status   string
	Type     string
	RobotID  string
	Types    []string
	Can      bool
}

func (u *UI) alertsPage(q *request) error {
	return u.renderAlerts(q, http.StatusOK, nil, "")
}

// renderAlerts shows the alerts page; defaults, when not nil, is the
// default-channels form as typed (kept after an error).
func (u *UI) renderAlerts(q *request, status int, defaults *slaForm, errMsg string) error {
	qs := q.r.URL.Query()
	v := alertsView{Status: qs.Get("status"), Type: qs.Get("type"), RobotID: qs.Get("robot_id"), Types: hub.AlertTypes, Can: q.me.Can("admin.manage")}
	if qs.Get("status") == "" && !qs.Has("status") {
		v.Status = "open"
	}
	p := url.Values{}
	if slices.Contains([]string{"open", "resolved"}, v.Status) {
		p.Set("status", v.Status)
	}
	if slices.Contains(hub.AlertTypes, v.Type) {
		p.Set("type", v.Type)
	}
	if v.RobotID != "" {
		p.Set("robot_id", v.RobotID)
	}
	p.Set("limit", "300")
	if err := q.call(http.MethodGet, "/alerts?"+p.Encode(), nil, &v.Alerts); err != nil {
		return err
	}
	if v.Can {
		if err := q.call(http.MethodGet, "/notifications?limit=50", nil, &v.Notices); err != nil {
			return err
		}
		var c hub.NotifyChannels
		if err := q.call(http.MethodGet, "/alerts/channels", nil, &c); err != nil {
			return err
		}
		v.Defaults = slaForm{Webhook: strings.Join(c.Webhook, "\n"), Teams: strings.Join(c.Teams, "\n"), Slack: strings.Join(c.Slack, "\n"),
			Email: strings.Join(c.Email, "\n")}
		v.Saved = qs.Get("saved") == "1"
		if defaults != nil {
			v.Defaults, v.Error = *defaults, errMsg
		}
	}
	u.render(q, status, "alerts", v)
	return nil
}

func (u *UI) alertResolve(q *request) error {
	id := q.r.PathValue("id")
	if err := q.call(http.MethodPost, "/alerts/"+url.PathEscape(id)+"/resolve", nil, nil); err != nil {
		return err
	}
	back := "/alerts"
	if ref := q.r.FormValue("next"); strings.HasPrefix(ref, "/alerts") && !strings.HasPrefix(ref, "//") {
		back = ref
	}
	http.Redirect(q.w, q.r, back, http.StatusSeeOther)
	return nil
}

// percent shows a rate as a percentage.
func percent(r *float64) string {
	if r == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", *r*100)
}

// seconds shows a duration in seconds, rounded for reading.
func seconds(s *float64) string {
	if s == nil {
		return "—"
	}
	d := time.Duration(*s * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func waited(s *int64) string {
	if s == nil {
		return "—"
	}
	return (time.Duration(*s) * time.Second).String()
}

// figuresTable is what the figures-table block renders.
type figuresTable struct {
	V    view
	Rows []figuresRow
	Kind string
}

func init() {
	templateFuncs["figuresArgs"] = func(v view, rows []figuresRow, kind string) figuresTable {
		return figuresTable{V: v, Rows: rows, Kind: kind}
	}
	templateFuncs["percent"] = percent
	templateFuncs["shorten"] = shorten
	templateFuncs["seconds"] = seconds
	templateFuncs["waited"] = waited
}

// shorten keeps a notification target readable: a URL's scheme, host and
// the start of its path (webhook URLs carry credentials in their path).
func shorten(target string) string {
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		p := u.Path
		if len(p) > 12 {
			p = p[:12] + "…"
		}
		return u.Scheme + "://" + u.Host + p
	}
	return target
}

// slaView is a robot's SLA tab: its rule (or the form to create one) and
// its recent alerts.
type slaView struct {
	Robot      scheduleRobot
	Rule       *httpapi.SLARuleRead
	Form       slaForm
	Alerts     []httpapi.AlertRead
	CanPublish bool
	Error      string
	Saved      bool
}

// slaForm is the rule as the form shows it.
type slaForm struct {
	Every, Daily, LateAfter, MaxRun string
	OnFailure, OnLate               bool
	Webhook, Teams, Slack, Email    string
}

func slaFormOf(r *httpapi.SLARuleRead) slaForm {
	if r == nil {
		return slaForm{LateAfter: "15", OnFailure: true, OnLate: true}
	}
	f := slaForm{LateAfter: fmt.Sprint(r.LateAfterMinutes), OnFailure: r.AlertOnFailure, OnLate: r.AlertOnLate,
		Webhook: strings.Join(r.NotifyChannels.Webhook, "\n"), Teams: strings.Join(r.NotifyChannels.Teams, "\n"),
		Slack: strings.Join(r.NotifyChannels.Slack, "\n"), Email: strings.Join(r.NotifyChannels.Email, "\n")}
	if r.ExpectedRunEveryMinutes != nil {
		f.Every = fmt.Sprint(*r.ExpectedRunEveryMinutes)
	}
	if r.ExpectedDailyTime != nil {
		f.Daily = *r.ExpectedDailyTime
	}
	if r.MaxRunMinutes != nil {
		f.MaxRun = fmt.Sprint(*r.MaxRunMinutes)
	}
	return f
}

func (u *UI) slaPage(q *request) error {
	return u.renderSLA(q, http.StatusOK, nil, "")
}

func (u *UI) renderSLA(q *request, status int, form *slaForm, errMsg string) error {
	id := url.PathEscape(q.r.PathValue("id"))
	v := slaView{CanPublish: q.me.Can("robot.publish"), Error: errMsg, Saved: q.r.URL.Query().Get("saved") == "1"}
	if err := q.call(http.MethodGet, "/robots/"+id+"?include_versions=false", nil, &v.Robot); err != nil {
		return err
	}
	var rule httpapi.SLARuleRead
	err := q.call(http.MethodGet, "/robots/"+id+"/sla", nil, &rule)
	switch ae, ok := asAPIError(err); {
	case err == nil:
		v.Rule = &rule
	case ok && ae.Status == http.StatusNotFound:
	default:
		return err
	}
	if form != nil {
		v.Form = *form
	} else {
		v.Form = slaFormOf(v.Rule)
	}
	if q.me.Can("run.read") {
		_ = q.call(http.MethodGet, "/alerts?limit=20&robot_id="+id, nil, &v.Alerts) // a failure only hides the list
	}
	u.render(q, status, "sla", v)
	return nil
}

// lines splits a textarea into its non-blank lines.
func lines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (u *UI) slaSave(q *request) error {
	id := url.PathEscape(q.r.PathValue("id"))
	r := q.r
	f := slaForm{Every: strings.TrimSpace(r.PostFormValue("expected_run_every_minutes")), Daily: strings.TrimSpace(r.PostFormValue("expected_daily_time")),
		LateAfter: strings.TrimSpace(r.PostFormValue("late_after_minutes")), MaxRun: strings.TrimSpace(r.PostFormValue("max_run_minutes")),
		OnFailure: r.PostFormValue("alert_on_failure") == "on", OnLate: r.PostFormValue("alert_on_late") == "on",
		Webhook: r.PostFormValue("webhook"), Teams: r.PostFormValue("teams"), Slack: r.PostFormValue("slack"), Email: r.PostFormValue("email")}
	body := map[string]any{"expected_run_every_minutes": nil, "expected_daily_time": nil, "max_run_minutes": nil,
		"alert_on_failure": f.OnFailure, "alert_on_late": f.OnLate,
		"notify_channels_json": map[string][]string{"webhook": lines(f.Webhook), "teams": lines(f.Teams), "slack": lines(f.Slack), "email": lines(f.Email)}}
	for _, name := range []string{"expected_run_every_minutes", "late_after_minutes", "max_run_minutes"} {
		intField(r, name, body)
	}
	if f.Daily != "" {
		body["expected_daily_time"] = f.Daily
	}
	method := http.MethodPatch
	if r.PostFormValue("exists") != "1" {
		method = http.MethodPost
	}
	if err := q.call(method, "/robots/"+id+"/sla", body, nil); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		msg := q.tr.API(ae.Detail)
		if msg == "" {
			msg = ae.Detail
		}
		return u.renderSLA(q, http.StatusBadRequest, &f, msg)
	}
	http.Redirect(q.w, q.r, "/robots/"+id+"/sla?saved=1", http.StatusSeeOther)
	return nil
}

// channelsSave replaces the default notification channels.
func (u *UI) channelsSave(q *request) error {
	r := q.r
	f := slaForm{Webhook: r.PostFormValue("webhook"), Teams: r.PostFormValue("teams"), Slack: r.PostFormValue("slack"), Email: r.PostFormValue("email")}
	body := map[string][]string{"webhook": lines(f.Webhook), "teams": lines(f.Teams), "slack": lines(f.Slack), "email": lines(f.Email)}
	if err := q.call(http.MethodPut, "/alerts/channels", body, nil); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		msg := q.tr.API(ae.Detail)
		if msg == "" {
			msg = ae.Detail
		}
		return u.renderAlerts(q, http.StatusBadRequest, &f, msg)
	}
	http.Redirect(q.w, q.r, "/alerts?saved=1#channels", http.StatusSeeOther)
	return nil
}
