package webui

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"automationhub/internal/httpapi"
)

// registryRoutes registers the robot pages.
func (u *UI) registryRoutes() {
	m := u.mux
	m.Handle("GET /robots", u.page(u.robotList))
	m.Handle("POST /robots", u.page(u.robotCreate))
	m.Handle("GET /robots/{id}", u.page(u.robotDetail))
	m.Handle("POST /robots/{id}/run", u.page(u.robotRun))
	m.Handle("POST /robots/{id}/versions/{vid}/activate", u.page(u.robotActivate))
	m.Handle("POST /robots/{id}/versions/{vid}/prepare", u.page(u.robotPrepare))
	m.Handle("GET /robots/{id}/versions/{vid}/package", u.withSession(u.robotPackage))
	// Publishing streams a multipart upload to the API: its wrapper checks
	// the CSRF token from the header or the URL, never from the body.
	m.Handle("POST /robots/{id}/publish", u.withSession(u.robotPublish))
}

// registryRobot is a robot as the API returns it.
type registryRobot struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Tags        []string          `json:"tags"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Versions    []registryVersion `json:"versions"`
	// RequiredLabels are the worker labels each run needs.
	RequiredLabels []string `json:"required_labels"`
}

// Active is the robot's active version, or nil.
func (r registryRobot) Active() *registryVersion {
	for i := range r.Versions {
		if r.Versions[i].IsActive {
			return &r.Versions[i]
		}
	}
	return nil
}

// registryVersion is a robot version as the API returns it.
type registryVersion struct {
	ID                string    `json:"id"`
	RobotID           string    `json:"robot_id"`
	Version           string    `json:"version"`
	Channel           string    `json:"channel"`
	ArtifactType      string    `json:"artifact_type"`
	ArtifactPath      *string   `json:"artifact_path"`
	ArtifactSHA256    *string   `json:"artifact_sha256"`
	ArtifactSizeBytes *int64    `json:"artifact_size_bytes"`
	Changelog         *string   `json:"changelog"`
	EntrypointType    string    `json:"entrypoint_type"`
	EntrypointPath    string    `json:"entrypoint_path"`
	CreatedAt         time.Time `json:"created_at"`
	IsActive          bool      `json:"is_active"`

	// Filled for rendering: the version is older than the active one.
	Older bool `json:"-"`
}

// HasPackage reports whether the version has a stored package.
func (v registryVersion) HasPackage() bool { return v.ArtifactPath != nil && *v.ArtifactPath != "" }

// ShortSHA is the start of the package's SHA-256 ("" without a package).
func (v registryVersion) ShortSHA() string {
	if v.ArtifactSHA256 == nil {
		return ""
	}
	s := *v.ArtifactSHA256
	return s[:min(len(s), 12)]
}

// Size is the package size in bytes (0 when unknown).
func (v registryVersion) Size() int64 {
	if v.ArtifactSizeBytes == nil {
		return 0
	}
	return *v.ArtifactSizeBytes
}

const robotsPerPage = 25

// newRobotForm is what the "New robot" form holds (kept on errors).
type newRobotForm struct {
	Name, Description, Tags, Version string
}

type robotsView struct {
	Robots             []registryRobot
	Total, Page, Pages int
	More               bool // Total is a lower bound: more pages follow
	Search, Tag        string
	// Query is the filters as a query string, for paging links; typed as a
	// URL so the template keeps its "=" and "&" (it is url.Values.Encode'd).
	Query      template.URL
	CanPublish bool
	Form       newRobotForm
	Error      string
}

func (u *UI) robotList(q *request) error {
	return u.renderRobotList(q, http.StatusOK, newRobotForm{Version: "0.1.0"}, "")
}

func (u *UI) renderRobotList(q *request, status int, form newRobotForm, errMsg string) error {
	in := q.r.URL.Query()
	v := robotsView{Search: strings.TrimSpace(in.Get("q")), Tag: strings.TrimSpace(in.Get("tag")),
		CanPublish: q.me.Can("robot.publish"), Form: form, Error: errMsg}
	v.Page = pageParam(q.r)
	lq := newListQuery(v.Page, robotsPerPage)
	lq.filter("q", v.Search)
	lq.filter("tag", v.Tag)
	v.Query = lq.links()
	var page struct {
		Items []registryRobot `json:"items"`
		Total int             `json:"total"`
	}
	if err := q.call(http.MethodGet, "/robots?"+lq.api.Encode(), nil, &page); err != nil {
		return err
	}
	v.Robots, v.Total = page.Items, page.Total
	v.Pages = pageCount(v.Total, robotsPerPage)
	u.render(q, status, "robots", v)
	return nil
}

// splitTags reads a comma-separated tag list.
func splitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (u *UI) robotCreate(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 1<<20)
	form := newRobotForm{Name: q.r.PostFormValue("name"), Description: q.r.PostFormValue("description"),
		Tags: q.r.PostFormValue("tags"), Version: strings.TrimSpace(q.r.PostFormValue("version"))}
	body := map[string]any{"name": strings.TrimSpace(form.Name), "tags": splitTags(form.Tags),
		"initial_version": map[string]any{"version": form.Version}}
	if d := strings.TrimSpace(form.Description); d != "" {
		body["description"] = d
	}
	var created registryRobot
	err := q.call(http.MethodPost, "/robots", body, &created)
	if err == nil {
		http.Redirect(q.w, q.r, "/robots/"+url.PathEscape(created.ID), http.StatusSeeOther)
		return nil
	}
	ae, ok := formError(err)
	if !ok {
		return err
	}
	return u.renderRobotList(q, http.StatusBadRequest, form, q.tr.API(ae.Detail))
}

type robotDetailView struct {
	Robot       registryRobot
	Versions    []registryVersion
	Active      *registryVersion
	CanPublish  bool
	CanRun      bool
	CanDownload bool
	Channels    []string
	Error       string
	// RunInput is the "Run with input" form as typed.
	RunInput *runInputForm
	// Envs are the workers' reports on the active version's Python
	// environment; ShowEnvs is set for a Python package version.
	Envs     []httpapi.WorkerEnvRead
	ShowEnvs bool
	// Prepared is set right after a prepare request.
	Prepared bool
}

func (u *UI) robotDetail(q *request) error {
	return u.renderRobot(q, http.StatusOK, "")
}

// renderRobot shows the robot page, with errMsg above it when not empty.
func (u *UI) renderRobot(q *request, status int, errMsg string) error {
	return u.renderRobotWith(q, status, robotDetailView{Error: errMsg})
}

// renderRobotWith shows the robot page with the error and run form of v.
func (u *UI) renderRobotWith(q *request, status int, v robotDetailView) error {
	id := url.PathEscape(q.r.PathValue("id"))
	v.CanPublish, v.CanRun, v.Channels = q.me.Can("robot.publish"), q.me.Can("robot.run"), []string{"stable", "beta", "hotfix"}
	if v.RunInput == nil {
		v.RunInput = &runInputForm{}
	}
	v.RunInput.MaxTimeout = maxRunTimeout
	// The API serves packages to those who may publish the robot.
	v.CanDownload = v.CanPublish
	if err := q.call(http.MethodGet, "/robots/"+id, nil, &v.Robot); err != nil {
		return err
	}
	if err := q.call(http.MethodGet, "/robots/"+id+"/versions", nil, &v.Versions); err != nil {
		return err
	}
	active := -1
	for i := range v.Versions {
		if v.Versions[i].IsActive {
			active = i
		}
	}
	if active >= 0 {
		v.Active = &v.Versions[active]
		// The API lists versions newest first: the order settles equal
		// timestamps.
		at := v.Active.CreatedAt
		for i := range v.Versions {
			c := v.Versions[i].CreatedAt
			v.Versions[i].Older = c.Before(at) || (c.Equal(at) && i > active)
		}
		if v.Active.ArtifactType == "ZIP" && v.Active.EntrypointType == "PYTHON" && v.Active.ArtifactPath != nil {
			v.ShowEnvs = true
			if err := q.call(http.MethodGet, "/robots/"+id+"/versions/"+url.PathEscape(v.Active.ID)+"/environments", nil, &v.Envs); err != nil {
				return err
			}
		}
	}
	v.Prepared = q.r.URL.Query().Get("prepared") == "1"
	u.render(q, status, "robot", v)
	return nil
}

func (u *UI) robotActivate(q *request) error {
	id, vid := q.r.PathValue("id"), q.r.PathValue("vid")
	err := q.call(http.MethodPost, "/robots/"+url.PathEscape(id)+"/versions/"+url.PathEscape(vid)+"/activate", nil, nil)
	if err != nil {
		if ae, ok := formError(err); ok {
			return u.renderRobot(q, http.StatusBadRequest, q.tr.API(ae.Detail))
		}
		return err
	}
	http.Redirect(q.w, q.r, "/robots/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

// robotPrepare asks workers to build a version's Python environment.
func (u *UI) robotPrepare(q *request) error {
	id, vid := q.r.PathValue("id"), q.r.PathValue("vid")
	err := q.call(http.MethodPost, "/robots/"+url.PathEscape(id)+"/versions/"+url.PathEscape(vid)+"/prepare", nil, nil)
	if err != nil {
		if ae, ok := formError(err); ok {
			return u.renderRobot(q, http.StatusBadRequest, q.tr.API(ae.Detail))
		}
		return err
	}
	http.Redirect(q.w, q.r, "/robots/"+url.PathEscape(id)+"?prepared=1#python-env", http.StatusSeeOther)
	return nil
}

func (u *UI) robotPackage(w http.ResponseWriter, r *http.Request, s *session) {
	r.URL.RawQuery = ""
	u.passThrough(w, r, s.Token, "/robots/"+url.PathEscape(r.PathValue("id"))+"/versions/"+url.PathEscape(r.PathValue("vid"))+"/artifact")
}

// publishDrainMax is how much of an upload the API refused is still read,
// so that the browser can see the answer; beyond it the connection closes.
const publishDrainMax = 32 << 20

// robotPublish streams a publish form (multipart, possibly hundreds of MB)
// to the API without parsing it. Script requests (X-Requested-With) get
// JSON; plain form posts a redirect or the robot page with the error.
func (u *UI) robotPublish(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	xhr := r.Header.Get("X-Requested-With") == "XMLHttpRequest"
	answer := func(status int, detail string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		body := map[string]any{"ok": status/100 == 2}
		if status/100 == 2 {
			body["location"] = "/robots/" + url.PathEscape(id)
		} else {
			body["error"] = detail
		}
		_ = json.NewEncoder(w).Encode(body)
	}
	sent := r.Header.Get("X-CSRF-Token")
	if sent == "" {
		sent = r.URL.Query().Get("csrf")
	}
	if !tokensEqual(sent, s.CSRF) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, publishDrainMax))
		if xhr {
			answer(http.StatusForbidden, u.translator(r).T("error.csrf"))
			return
		}
		u.plainError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	resp := &bufferedResponse{header: http.Header{}}
	u.api.ServeHTTP(resp, apiRequest(r, s.Token, http.MethodPost, "/robots/"+url.PathEscape(id)+"/versions/publish",
		r.Body, r.Header.Get("Content-Type")))
	if resp.status == 0 {
		resp.status = http.StatusOK
	}
	if resp.status/100 == 2 {
		if xhr {
			answer(http.StatusOK, "")
			return
		}
		http.Redirect(w, r, "/robots/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	// Refused: read (a bounded part of) what is left of the upload so that
	// the browser, still sending, receives the answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, publishDrainMax))
	ae := decodeAPIError(resp.status, resp.body.Bytes())
	ae.Detail = u.translator(r).API(ae.Detail)
	if xhr {
		if resp.status == http.StatusUnauthorized {
			u.clearSession(w, r)
		}
		answer(resp.status, ae.Detail)
		return
	}
	if resp.status == http.StatusUnauthorized {
		u.clearSession(w, r)
		u.toLogin(w, r)
		return
	}
	q := &request{u: u, w: w, r: r, s: s, tr: u.translator(r), me: &me{}}
	if err := q.call(http.MethodGet, "/auth/me", nil, q.me); err != nil {
		u.fail(q, err)
		return
	}
	if _, ok := formError(ae); !ok {
		u.fail(q, ae)
		return
	}
	status := http.StatusBadRequest
	if resp.status == http.StatusRequestEntityTooLarge {
		status = resp.status
	}
	if err := u.renderRobot(q, status, ae.Detail); err != nil {
		u.fail(q, err)
	}
}
