package webui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"automationhub/internal/httpapi"
)

// scheduleRoutes registers the robot's Schedule tab and the pools page.
func (u *UI) scheduleRoutes() {
	m := u.mux
	m.Handle("GET /robots/{id}/schedule", u.page(u.schedulePage))
	m.Handle("POST /robots/{id}/schedule", u.page(u.scheduleSave))
	m.Handle("POST /robots/{id}/schedule/delete", u.page(u.scheduleDelete))
	m.Handle("POST /robots/{id}/limits", u.page(u.limitsSave))
	m.Handle("GET /admin/pools", u.page(u.poolList))
	m.Handle("POST /admin/pools", u.page(u.poolCreate))
	m.Handle("POST /admin/pools/{pid}", u.page(u.poolUpdate))
	m.Handle("POST /admin/pools/{pid}/delete", u.page(u.poolDelete))
}

// scheduleRobot is the part of a robot the Schedule tab shows.
type scheduleRobot struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	MaxConcurrentRuns   *int     `json:"max_concurrent_runs"`
	ResourcePools       []string `json:"resource_pools"`
	RetryCount          int      `json:"retry_count"`
	RetryBackoffSeconds int      `json:"retry_backoff_seconds"`
	RequiredLabels      []string `json:"required_labels"`
}

// LabelsText is the robot's required labels as the form edits them.
func (r scheduleRobot) LabelsText() string { return strings.Join(r.RequiredLabels, ", ") }

// HasPool reports whether the robot needs the named pool.
func (r scheduleRobot) HasPool(name string) bool {
	for _, p := range r.ResourcePools {
		if p == name {
			return true
		}
	}
	return false
}

// scheduleForm is the schedule form as shown or as typed.
type scheduleForm struct {
	Enabled                                                  bool
	CronExpr, Timezone, WindowStart, WindowEnd               string
	Overlap, Catchup                                         string
	CatchupWindow, MaxConcurrency, Timeout, Retries, Backoff string
}

// fireTime is one upcoming fire, in the schedule's time zone.
type fireTime struct {
	At    time.Time
	Local string
}

type scheduleView struct {
	Robot       scheduleRobot
	Schedule    *httpapi.ScheduleRead
	Form        scheduleForm
	Description string
	Next        []fireTime
	Pools       []httpapi.PoolRead
	CanPublish  bool
	Error       string
	Saved       bool
	Timezones   []string
}

// commonZones are offered in the time zone list; any IANA name may be typed.
var commonZones = []string{"America/Sao_Paulo", "UTC", "Europe/Lisbon", "America/New_York", "America/Manaus", "America/Recife",
	"Europe/London", "Europe/Madrid", "America/Chicago", "America/Los_Angeles", "Asia/Tokyo"}

func formOf(s *httpapi.ScheduleRead) scheduleForm {
	if s == nil {
		return scheduleForm{Enabled: true, CronExpr: "0 8 * * 1-5", Timezone: "America/Sao_Paulo", Overlap: "skip", Catchup: "latest",
			CatchupWindow: "3600", MaxConcurrency: "1", Timeout: "3600", Retries: "0", Backoff: "60"}
	}
	f := scheduleForm{Enabled: s.Enabled, CronExpr: s.CronExpr, Timezone: s.Timezone, Overlap: s.OverlapPolicy, Catchup: s.Catchup,
		CatchupWindow: strconv.Itoa(s.CatchupWindowSeconds), MaxConcurrency: strconv.Itoa(s.MaxConcurrency),
		Timeout: strconv.Itoa(s.TimeoutSeconds), Retries: strconv.Itoa(s.RetryCount), Backoff: strconv.Itoa(s.RetryBackoffSeconds)}
	if s.WindowStart != nil {
		f.WindowStart = *s.WindowStart
	}
	if s.WindowEnd != nil {
		f.WindowEnd = *s.WindowEnd
	}
	return f
}

func (u *UI) schedulePage(q *request) error {
	return u.renderSchedule(q, http.StatusOK, nil, "")
}

// renderSchedule shows the Schedule tab; form, when not nil, is what the
// user typed (kept after an error).
func (u *UI) renderSchedule(q *request, status int, form *scheduleForm, errMsg string) error {
	id := url.PathEscape(q.r.PathValue("id"))
	v := scheduleView{CanPublish: q.me.Can("robot.publish"), Error: errMsg, Saved: q.r.URL.Query().Get("saved") == "1", Timezones: commonZones}
	if err := q.call(http.MethodGet, "/robots/"+id+"?include_versions=false", nil, &v.Robot); err != nil {
		return err
	}
	var sc httpapi.ScheduleRead
	err := q.call(http.MethodGet, "/robots/"+id+"/schedule", nil, &sc)
	switch ae, ok := asAPIError(err); {
	case err == nil:
		v.Schedule = &sc
	case ok && ae.Status == http.StatusNotFound:
	default:
		return err
	}
	if form != nil {
		v.Form = *form
	} else {
		v.Form = formOf(v.Schedule)
	}
	if v.Schedule != nil {
		pv := url.Values{"cron": {v.Schedule.CronExpr}, "timezone": {v.Schedule.Timezone}, "count": {"5"}, "lang": {q.tr.lang}}
		if v.Schedule.WindowStart != nil && v.Schedule.WindowEnd != nil {
			pv.Set("window_start", *v.Schedule.WindowStart)
			pv.Set("window_end", *v.Schedule.WindowEnd)
		}
		var preview httpapi.PreviewRead
		if q.call(http.MethodGet, "/schedules/preview?"+pv.Encode(), nil, &preview) == nil {
			v.Description = preview.Description
			for i, at := range preview.NextFireTimes {
				local := ""
				if i < len(preview.NextFireTimesLocal) {
					if t, err := time.Parse(time.RFC3339, preview.NextFireTimesLocal[i]); err == nil {
						local = t.Format("Mon 2006-01-02 15:04 (-07:00)")
					}
				}
				v.Next = append(v.Next, fireTime{At: at, Local: local})
			}
		}
	}
	_ = q.call(http.MethodGet, "/pools", nil, &v.Pools) // a failure only hides the choices
	u.render(q, status, "schedule", v)
	return nil
}

// intField reads a whole number from a form field ("" leaves it out).
func intField(r *http.Request, name string, body map[string]any) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" {
		return
	}
	if n, err := strconv.Atoi(s); err == nil {
		body[name] = n
	} else {
		body[name] = s // the API says what is wrong
	}
}

func (u *UI) scheduleSave(q *request) error {
	id := url.PathEscape(q.r.PathValue("id"))
	r := q.r
	form := scheduleForm{Enabled: r.PostFormValue("enabled") == "on", CronExpr: strings.TrimSpace(r.PostFormValue("cron_expr")),
		Timezone: strings.TrimSpace(r.PostFormValue("timezone")), WindowStart: strings.TrimSpace(r.PostFormValue("window_start")),
		WindowEnd: strings.TrimSpace(r.PostFormValue("window_end")), Overlap: r.PostFormValue("overlap_policy"),
		Catchup: r.PostFormValue("catchup"), CatchupWindow: r.PostFormValue("catchup_window_seconds"),
		MaxConcurrency: r.PostFormValue("max_concurrency"), Timeout: r.PostFormValue("timeout_seconds"),
		Retries: r.PostFormValue("retry_count"), Backoff: r.PostFormValue("retry_backoff_seconds")}
	body := map[string]any{"enabled": form.Enabled, "cron_expr": form.CronExpr, "timezone": form.Timezone,
		"overlap_policy": form.Overlap, "catchup": form.Catchup, "window_start": nil, "window_end": nil}
	if form.WindowStart != "" {
		body["window_start"] = form.WindowStart
	}
	if form.WindowEnd != "" {
		body["window_end"] = form.WindowEnd
	}
	for _, f := range []string{"catchup_window_seconds", "max_concurrency", "timeout_seconds", "retry_count", "retry_backoff_seconds"} {
		intField(r, f, body)
	}
	method := http.MethodPatch
	if r.PostFormValue("exists") != "1" {
		method = http.MethodPost
		if body["window_start"] == nil {
			delete(body, "window_start")
		}
		if body["window_end"] == nil {
			delete(body, "window_end")
		}
	}
	if err := q.call(method, "/robots/"+id+"/schedule", body, nil); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		return u.renderSchedule(q, http.StatusBadRequest, &form, q.tr.API(ae.Detail))
	}
	http.Redirect(q.w, q.r, "/robots/"+id+"/schedule?saved=1", http.StatusSeeOther)
	return nil
}

func (u *UI) scheduleDelete(q *request) error {
	id := url.PathEscape(q.r.PathValue("id"))
	if err := q.call(http.MethodDelete, "/robots/"+id+"/schedule", nil, nil); err != nil {
		if ae, ok := formError(err); ok {
			return u.renderSchedule(q, http.StatusBadRequest, nil, q.tr.API(ae.Detail))
		}
		return err
	}
	http.Redirect(q.w, q.r, "/robots/"+id+"/schedule", http.StatusSeeOther)
	return nil
}

func (u *UI) limitsSave(q *request) error {
	id := url.PathEscape(q.r.PathValue("id"))
	r := q.r
	if err := r.ParseForm(); err != nil {
		return &apiError{Status: http.StatusBadRequest, Detail: err.Error()}
	}
	body := map[string]any{"max_concurrent_runs": nil, "resource_pools": []string{}}
	intField(r, "max_concurrent_runs", body)
	intField(r, "retry_count", body)
	intField(r, "retry_backoff_seconds", body)
	if pools := r.PostForm["resource_pools"]; len(pools) > 0 {
		body["resource_pools"] = pools
	}
	labels := []string{}
	for _, l := range strings.Split(r.PostFormValue("required_labels"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			labels = append(labels, l)
		}
	}
	body["required_labels"] = labels
	if err := q.call(http.MethodPatch, "/robots/"+id, body, nil); err != nil {
		if ae, ok := formError(err); ok {
			return u.renderSchedule(q, http.StatusBadRequest, nil, q.tr.API(ae.Detail))
		}
		return err
	}
	http.Redirect(q.w, q.r, "/robots/"+id+"/schedule?saved=1", http.StatusSeeOther)
	return nil
}

// ---- Pools ---------------------------------------------------------------

type poolsView struct {
	Pools    []httpapi.PoolRead
	CanAdmin bool
	Error    string
	Form     struct{ Name, Capacity, Description string }
}

func (u *UI) poolList(q *request) error {
	return u.renderPools(q, http.StatusOK, poolsView{})
}

func (u *UI) renderPools(q *request, status int, v poolsView) error {
	v.CanAdmin = q.me.Can("admin.manage")
	if err := q.call(http.MethodGet, "/pools", nil, &v.Pools); err != nil {
		return err
	}
	u.render(q, status, "pools", v)
	return nil
}

func (u *UI) poolBody(r *http.Request) map[string]any {
	body := map[string]any{"name": strings.TrimSpace(r.PostFormValue("name"))}
	intField(r, "capacity", body)
	if d := strings.TrimSpace(r.PostFormValue("description")); d != "" {
		body["description"] = d
	} else {
		body["description"] = nil
	}
	return body
}

func (u *UI) poolCreate(q *request) error {
	body := u.poolBody(q.r)
	if err := q.call(http.MethodPost, "/pools", body, nil); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		v := poolsView{Error: q.tr.API(ae.Detail)}
		v.Form.Name, v.Form.Capacity, v.Form.Description = q.r.PostFormValue("name"), q.r.PostFormValue("capacity"), q.r.PostFormValue("description")
		return u.renderPools(q, http.StatusBadRequest, v)
	}
	http.Redirect(q.w, q.r, "/admin/pools", http.StatusSeeOther)
	return nil
}

func (u *UI) poolUpdate(q *request) error {
	if err := q.call(http.MethodPatch, "/pools/"+url.PathEscape(q.r.PathValue("pid")), u.poolBody(q.r), nil); err != nil {
		if ae, ok := formError(err); ok {
			return u.renderPools(q, http.StatusBadRequest, poolsView{Error: q.tr.API(ae.Detail)})
		}
		return err
	}
	http.Redirect(q.w, q.r, "/admin/pools", http.StatusSeeOther)
	return nil
}

func (u *UI) poolDelete(q *request) error {
	if err := q.call(http.MethodDelete, "/pools/"+url.PathEscape(q.r.PathValue("pid")), nil, nil); err != nil {
		if ae, ok := formError(err); ok {
			return u.renderPools(q, http.StatusBadRequest, poolsView{Error: q.tr.API(ae.Detail)})
		}
		return err
	}
	http.Redirect(q.w, q.r, "/admin/pools", http.StatusSeeOther)
	return nil
}
