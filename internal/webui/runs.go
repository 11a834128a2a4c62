package webui

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"automationhub/internal/httpapi"
)

// run is a run as the API shows it (its own type, reused).
type run struct {
	httpapi.RunRead
}

// Finished reports whether the run reached a final status.
func (r run) Finished() bool {
	return r.Status == "SUCCESS" || r.Status == "FAILED" || r.Status == "CANCELED"
}

type runView struct {
	Run         run
	RobotName   string
	CanCancel   bool
	CanDownload bool
	Names       names // who started and who cancelled the run
}

func (u *UI) loadRun(q *request) (*run, error) {
	var r run
	if err := q.call(http.MethodGet, "/runs/"+url.PathEscape(q.r.PathValue("id")), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (u *UI) runPage(q *request) error {
	r, err := u.loadRun(q)
	if err != nil {
		return err
	}
	v := runView{Run: *r, CanCancel: q.me.Can("run.cancel") && !r.Finished(), CanDownload: q.me.Can("artifact.download"),
		Names: q.userNames(r.TriggeredBy, r.CanceledBy)}
	var robot struct {
		Name string `json:"name"`
	}
	if q.call(http.MethodGet, "/robots/"+r.RobotID, nil, &robot) == nil {
		v.RobotName = robot.Name
	}
	if q.r.URL.Query().Get("block") == "status" {
		u.renderBlock(q, http.StatusOK, "run", "run-status", v)
		return nil
	}
	u.render(q, http.StatusOK, "run", v)
	return nil
}

func (u *UI) runCancel(q *request) error {
	id := q.r.PathValue("id")
	if err := q.call(http.MethodPost, "/runs/"+url.PathEscape(id)+"/cancel", nil, nil); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/runs/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

// runLogSocket serves a run's live log to the run page: the API's socket,
// opened with the session's token, for pages of the UI's own origin only.
func (u *UI) runLogSocket(w http.ResponseWriter, r *http.Request, s *session) {
	if !sameOrigin(r) {
		u.plainError(w, r, http.StatusForbidden, "error.cross_origin")
		return
	}
	v := url.Values{}
	if a := r.URL.Query().Get("after_seq"); a != "" {
		v.Set("after_seq", a)
	}
	r.URL.RawQuery = v.Encode()
	u.passThrough(w, r, s.Token, "/ws/runs/"+url.PathEscape(r.PathValue("id"))+"/logs")
}

// sameOrigin reports whether a WebSocket handshake comes from a page of
// the UI's own origin. The UI's socket is opened with the session cookie,
// which browsers also send from other sites' pages and from other ports of
// the same host, and WebSockets are not subject to CORS; so, unlike the
// API's socket (which takes a token and allows CORS_ORIGINS), it accepts
// only its own origin. Clients that send no Origin are not browsers.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	o, err := url.Parse(origin)
	return err == nil && o.Host != "" && strings.EqualFold(o.Host, r.Host)
}

// runLogPage serves a page of stored log lines (JSON, as the API pages
// them) for the viewer's catch-up.
func (u *UI) runLogPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := url.Values{}
	for _, k := range []string{"after_seq", "limit"} {
		if x := r.URL.Query().Get(k); x != "" {
			v.Set(k, x)
		}
	}
	r.URL.RawQuery = v.Encode()
	u.passThrough(w, r, s.Token, "/runs/"+url.PathEscape(r.PathValue("id"))+"/logs")
}

func (u *UI) runArtifact(w http.ResponseWriter, r *http.Request, s *session) {
	r.URL.RawQuery = ""
	u.passThrough(w, r, s.Token, "/runs/"+url.PathEscape(r.PathValue("id"))+"/artifacts/"+url.PathEscape(r.PathValue("aid"))+"/download")
}

const runsPerPage = 25

type option struct{ Value, Label string }

type runListView struct {
	Runs                             []run
	Total, Page, Pages               int
	More                             bool // Total is a lower bound: more pages follow
	Robot, Service, Status, From, To string
	Trigger                          string
	Triggers                         []string
	Robots, Services                 []option
	Statuses                         []string
	RobotNames                       map[string]string
	Names                            names        // who started each run
	Query                            template.URL // filters as an encoded query string, for paging links
}

func (u *UI) runList(q *request) error {
	in := q.r.URL.Query()
	v := runListView{Robot: in.Get("robot_id"), Service: in.Get("service_id"), Status: in.Get("status"),
		From: in.Get("from"), To: in.Get("to"), Statuses: []string{"PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELED"},
		RobotNames: map[string]string{}, Trigger: in.Get("trigger_type"), Triggers: []string{"MANUAL", "SCHEDULED", "RETRY"}}
	v.Page = pageParam(q.r)
	lq := newListQuery(v.Page, runsPerPage)
	lq.filter("robot_id", v.Robot)
	lq.filter("service_id", v.Service)
	lq.filter("status", v.Status)
	lq.filter("trigger_type", v.Trigger)
	if !lq.dates(v.From, v.To) {
		return &apiError{Status: http.StatusBadRequest, Detail: q.tr.T("runs.bad_date")}
	}
	v.Query = lq.links()
	var page struct {
		Items      []run `json:"items"`
		Total      int   `json:"total"`
		TotalExact bool  `json:"total_exact"`
	}
	if err := q.call(http.MethodGet, "/runs?"+lq.api.Encode(), nil, &page); err != nil {
		return err
	}
	v.Runs, v.Total, v.More = page.Items, page.Total, !page.TotalExact
	v.Pages = pageCount(v.Total, runsPerPage)
	starters := make([]*string, len(v.Runs))
	for i := range v.Runs {
		starters[i] = v.Runs[i].TriggeredBy
	}
	v.Names = q.userNames(starters...)
	// Filter choices: what the user may read (a failure only hides them).
	var robots struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if q.me.Can("robot.read") && q.call(http.MethodGet, "/robots?limit=200&include_versions=false", nil, &robots) == nil {
		for _, r := range robots.Items {
			v.Robots = append(v.Robots, option{r.ID, r.Name})
			v.RobotNames[r.ID] = r.Name
		}
	}
	var services []service
	if q.me.Can("service.read") && q.call(http.MethodGet, "/services?limit=200", nil, &services) == nil {
		for _, s := range services {
			v.Services = append(v.Services, option{s.ID, s.Title})
		}
	}
	u.render(q, http.StatusOK, "runs", v)
	return nil
}
