package webui

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// adminRoutes registers the administration and operations pages. The API
// refuses callers without admin.manage (users, audit) or worker.manage
// (operations), and the refusal becomes a friendly 403 page.
func (u *UI) adminRoutes() {
	m := u.mux
	m.Handle("GET /admin/users", u.page(u.userList))
	m.Handle("POST /admin/users", u.page(u.userCreate))
	m.Handle("GET /admin/users/{id}", u.page(u.userDetail))
	m.Handle("POST /admin/users/{id}", u.page(u.userUpdate))
	m.Handle("POST /admin/users/{id}/password", u.page(u.userPassword))
	m.Handle("POST /admin/users/{id}/grants", u.page(u.grantAdd))
	m.Handle("POST /admin/users/{id}/grants/{gid}/revoke", u.page(u.grantRevoke))
	m.Handle("GET /admin/audit", u.page(u.auditList))
	m.Handle("GET /ops", u.page(u.opsPage))
	m.Handle("POST /ops/workers/{id}/pause", u.page(u.workerPause))
	m.Handle("POST /ops/workers/{id}/resume", u.page(u.workerResume))
}

// adminUser is a user as GET /users shows it.
type adminUser struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	FullName    *string   `json:"full_name"`
	Email       *string   `json:"email"`
	IsActive    bool      `json:"is_active"`
	IsSuperuser bool      `json:"is_superuser"`
	Role        string    `json:"role"`
	AuthSource  string    `json:"auth_source"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// adminGrant is one permission of a user (GET /users/{id}/permissions).
type adminGrant struct {
	ID           int64     `json:"id"`
	UserID       string    `json:"user_id"`
	ResourceType string    `json:"resource_type"`
	ResourceID   *string   `json:"resource_id"`
	ScopeTag     *string   `json:"scope_tag"`
	Action       string    `json:"action"`
	CreatedAt    time.Time `json:"created_at"`
}

// auditEvent is one entry of GET /audit-events.
type auditEvent struct {
	ID           int64          `json:"id"`
	ActorUserID  *string        `json:"actor_user_id"`
	ActorSubject *string        `json:"actor_subject"`
	Action       string         `json:"action"`
	TargetType   *string        `json:"target_type"`
	TargetID     *string        `json:"target_id"`
	Metadata     map[string]any `json:"metadata_json"`
	IP           *string        `json:"ip"`
	CreatedAt    time.Time      `json:"created_at"`
}

// MetaJSON is the event's metadata as indented JSON ("" when it has none).
func (e auditEvent) MetaJSON() string {
	if len(e.Metadata) == 0 {
		return ""
	}
	b, err := json.MarshalIndent(e.Metadata, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

// opsWorker is a worker as GET /workers shows it.
type opsWorker struct {
	ID            string    `json:"id"`
	Hostname      string    `json:"hostname"`
	Status        string    `json:"status"`
	State         string    `json:"state"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	Version       *string   `json:"version"`
	Concurrency   int       `json:"concurrency"`
	RunningRuns   int       `json:"running_runs"`
	StartedAt     time.Time `json:"started_at"`
	CreatedAt     time.Time `json:"created_at"`
	Labels        []string  `json:"labels"`
}

// opsStatus is GET /ops/status.
type opsStatus struct {
	TotalWorkers         int64            `json:"total_workers"`
	WorkersRunning       int64            `json:"workers_running"`
	WorkersPaused        int64            `json:"workers_paused"`
	WorkersAlive         int64            `json:"workers_alive"`
	WorkersStale         int64            `json:"workers_stale"`
	QueueDepth           int64            `json:"queue_depth"`
	RunsRunning          int64            `json:"runs_running"`
	RunsFailedLastHour   int64            `json:"runs_failed_last_hour"`
	OldestPendingSeconds int64            `json:"oldest_pending_seconds"`
	RunsByStatus         map[string]int64 `json:"runs_by_status"`
	UptimeSeconds        int64            `json:"uptime_seconds"`
}

// Uptime is the hub's uptime as a duration ("3h2m1s").
func (s opsStatus) Uptime() string { return (time.Duration(s.UptimeSeconds) * time.Second).String() }

// OldestPending is the age of the oldest queued run as a duration.
func (s opsStatus) OldestPending() string {
	return (time.Duration(s.OldestPendingSeconds) * time.Second).String()
}

// Roles a user may have, lowest to highest.
var adminRoles = []string{"None", "Viewer", "Operator", "Maintainer", "Admin"}

// grantActions are the permission names a grant may carry; the resource
// type of each is the part before the dot (robot.read → robot).
var grantActions = []string{"robot.read", "robot.run", "robot.publish", "run.read", "run.cancel", "artifact.download",
	"service.read", "service.run", "service.manage", "worker.manage", "admin.manage"}

func grantResourceType(action string) string {
	t, _, _ := strings.Cut(action, ".")
	return t
}

const (
	usersPerPage = 25
	auditPerPage = 50
	// userScanLimit is the page size used to find one user in the list.
	userScanLimit = 200
)

// callCounted is q.call for list routes that give their total in the
// X-Total-Count header (GET /users): it returns that total.
func (q *request) callCounted(path string, out any) (int, error) {
	h, err := q.ui().callHeader(q.r, q.s.Token, http.MethodGet, path, nil, out)
	if err != nil {
		return 0, err
	}
	n, _ := strconv.Atoi(h.Get("X-Total-Count"))
	return n, nil
}

// ---- Users list and creation --------------------------------------------

type newUserForm struct{ Username, FullName, Email, Role string }

type usersView struct {
	Users              []adminUser
	Total, Page, Pages int
	More               bool // Total is a lower bound: more pages follow
	Query              template.URL
	Roles              []string
	Form               newUserForm
	Error              string
	Fields             map[string]string
}

func (u *UI) renderUsers(q *request, status int, v usersView) error {
	v.Page, v.Roles = pageParam(q.r), adminRoles
	total, err := q.callCounted("/users?"+newListQuery(v.Page, usersPerPage).api.Encode(), &v.Users)
	if err != nil {
		return err
	}
	v.Total, v.Pages = total, pageCount(total, usersPerPage)
	u.render(q, status, "users", v)
	return nil
}

func (u *UI) userList(q *request) error {
	return u.renderUsers(q, http.StatusOK, usersView{Form: newUserForm{Role: "Viewer"}})
}

func (u *UI) userCreate(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 64<<10)
	f := newUserForm{Username: strings.TrimSpace(q.r.PostFormValue("username")), FullName: strings.TrimSpace(q.r.PostFormValue("full_name")),
		Email: strings.TrimSpace(q.r.PostFormValue("email")), Role: q.r.PostFormValue("role")}
	body := map[string]any{"username": f.Username, "password": q.r.PostFormValue("password"), "role": f.Role}
	if f.FullName != "" {
		body["full_name"] = f.FullName
	}
	if f.Email != "" {
		body["email"] = f.Email
	}
	var created adminUser
	err := q.call(http.MethodPost, "/users", body, &created)
	if err == nil {
		http.Redirect(q.w, q.r, "/admin/users/"+url.PathEscape(created.ID), http.StatusSeeOther)
		return nil
	}
	ae, ok := formError(err)
	if !ok {
		return err
	}
	msg, fields := q.tr.apiFormError(ae)
	return u.renderUsers(q, ae.Status, usersView{Form: f, Error: msg, Fields: fields})
}

// ---- One user: details, password, grants ----------------------------------

type grantForm struct{ Action, Scope, RobotID, Tag string }

type userView struct {
	User       adminUser
	Grants     []adminGrant
	Robots     []option
	RobotNames map[string]string
	Roles      []string
	Actions    []string
	Grant      grantForm
	// Error is the API's answer to the form named by ErrorAt ("details",
	// "password" or "grant"); Fields are its per-field messages.
	Error, ErrorAt string
	Fields         map[string]string
}

// findUser looks the user up in the list (the API has no single-user GET).
func (u *UI) findUser(q *request, id string) (*adminUser, error) {
	for skip := 0; ; skip += userScanLimit {
		var users []adminUser
		if err := q.call(http.MethodGet, "/users?skip="+strconv.Itoa(skip)+"&limit="+strconv.Itoa(userScanLimit), nil, &users); err != nil {
			return nil, err
		}
		for i := range users {
			if users[i].ID == id {
				return &users[i], nil
			}
		}
		if len(users) < userScanLimit {
			return nil, &apiError{Status: http.StatusNotFound, Detail: "User not found."}
		}
	}
}

// renderUser shows the user page; edit adjusts the view (typed values, the
// error of a form) before it is rendered.
func (u *UI) renderUser(q *request, status int, edit func(v *userView)) error {
	id := q.r.PathValue("id")
	usr, err := u.findUser(q, id)
	if err != nil {
		return err
	}
	v := userView{User: *usr, Roles: adminRoles, Actions: grantActions, RobotNames: map[string]string{},
		Grant: grantForm{Action: "robot.read", Scope: "all"}}
	if err := q.call(http.MethodGet, "/users/"+url.PathEscape(id)+"/permissions", nil, &v.Grants); err != nil {
		return err
	}
	var robots struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if q.call(http.MethodGet, "/robots?limit=200", nil, &robots) == nil {
		for _, r := range robots.Items {
			v.Robots = append(v.Robots, option{r.ID, r.Name})
			v.RobotNames[r.ID] = r.Name
		}
	}
	if edit != nil {
		edit(&v)
	}
	u.render(q, status, "user", v)
	return nil
}

func (u *UI) userDetail(q *request) error { return u.renderUser(q, http.StatusOK, nil) }

// backToUser ends a successful write on the user page.
func backToUser(q *request) error {
	http.Redirect(q.w, q.r, "/admin/users/"+url.PathEscape(q.r.PathValue("id")), http.StatusSeeOther)
	return nil
}

// userWriteFailed re-renders the user page with a write's error.
func (u *UI) userWriteFailed(q *request, err error, at string, edit func(v *userView)) error {
	ae, ok := formError(err)
	if !ok {
		return err
	}
	return u.renderUser(q, ae.Status, func(v *userView) {
		if edit != nil {
			edit(v)
		}
		v.Error, v.Fields = q.tr.apiFormError(ae)
		v.ErrorAt = at
	})
}

// adminOptional is nil for an empty string.
func adminOptional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (u *UI) userUpdate(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 64<<10)
	id := q.r.PathValue("id")
	cur, err := u.findUser(q, id)
	if err != nil {
		return err
	}
	fullName := adminOptional(strings.TrimSpace(q.r.PostFormValue("full_name")))
	email := adminOptional(strings.TrimSpace(q.r.PostFormValue("email")))
	role, active := q.r.PostFormValue("role"), q.r.PostFormValue("is_active") != ""
	// Only what changed is sent: an unchanged e-mail is not re-checked, and
	// the audit trail names the fields really edited.
	body := map[string]any{}
	if adminText(fullName) != adminText(cur.FullName) {
		body["full_name"] = fullName
	}
	if adminText(email) != adminText(cur.Email) {
		body["email"] = email
	}
	if role != cur.Role {
		body["role"] = role
	}
	if active != cur.IsActive {
		body["is_active"] = active
	}
	if len(body) == 0 {
		return backToUser(q)
	}
	if err := q.call(http.MethodPatch, "/users/"+url.PathEscape(id), body, nil); err != nil {
		return u.userWriteFailed(q, err, "details", func(v *userView) {
			v.User.FullName, v.User.Email, v.User.Role, v.User.IsActive = fullName, email, role, active
		})
	}
	return backToUser(q)
}

func adminText(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (u *UI) userPassword(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 64<<10)
	id := q.r.PathValue("id")
	body := map[string]any{"password": q.r.PostFormValue("password")}
	if err := q.call(http.MethodPatch, "/users/"+url.PathEscape(id), body, nil); err != nil {
		return u.userWriteFailed(q, err, "password", nil)
	}
	return backToUser(q)
}

func (u *UI) grantAdd(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 64<<10)
	id := q.r.PathValue("id")
	f := grantForm{Action: q.r.PostFormValue("action"), Scope: q.r.PostFormValue("scope"),
		RobotID: q.r.PostFormValue("robot_id"), Tag: strings.TrimSpace(q.r.PostFormValue("tag"))}
	keep := func(v *userView) { v.Grant = f }
	body := map[string]any{"resource_type": grantResourceType(f.Action), "action": f.Action}
	switch f.Scope {
	case "robot":
		if f.RobotID == "" {
			return u.userWriteFailed(q, &apiError{Status: http.StatusBadRequest, Detail: q.tr.T("grants.need_robot")}, "grant", keep)
		}
		body["resource_id"] = f.RobotID
	case "tag":
		if f.Tag == "" {
			return u.userWriteFailed(q, &apiError{Status: http.StatusBadRequest, Detail: q.tr.T("grants.need_tag")}, "grant", keep)
		}
		body["scope_tag"] = f.Tag
	}
	if err := q.call(http.MethodPost, "/users/"+url.PathEscape(id)+"/permissions", body, nil); err != nil {
		return u.userWriteFailed(q, err, "grant", keep)
	}
	return backToUser(q)
}

func (u *UI) grantRevoke(q *request) error {
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 64<<10)
	id := q.r.PathValue("id")
	gid, err := strconv.ParseInt(q.r.PathValue("gid"), 10, 64)
	if err != nil || gid < 1 {
		return &apiError{Status: http.StatusNotFound, Detail: "Permission not found."}
	}
	if err := q.call(http.MethodDelete, "/users/"+url.PathEscape(id)+"/permissions/"+strconv.FormatInt(gid, 10), nil, nil); err != nil {
		return u.userWriteFailed(q, err, "grants", nil)
	}
	return backToUser(q)
}

// ---- Audit trail -----------------------------------------------------------

type auditView struct {
	Events                              []auditEvent
	Total, Page, Pages                  int
	More                                bool // Total is a lower bound: more pages follow
	Action, Actor, TargetType, From, To string
	Actors                              []option
	Names                               names // actors, and users that are targets
	KnownActions                        []string
	Query                               template.URL
}

// knownAuditActions are suggestions for the action filter.
var knownAuditActions = []string{"auth.local_login", "auth.login_failed", "auth.password_changed", "user.bootstrapped",
	"user.provisioned", "user.created", "user.updated", "permission.granted", "permission.revoked"}

func (u *UI) auditList(q *request) error {
	in := q.r.URL.Query()
	v := auditView{Action: strings.TrimSpace(in.Get("action")), Actor: in.Get("actor_user_id"),
		TargetType: strings.TrimSpace(in.Get("target_type")), From: in.Get("from"), To: in.Get("to"),
		KnownActions: knownAuditActions, Page: pageParam(q.r)}
	lq := newListQuery(v.Page, auditPerPage)
	lq.filter("action", v.Action)
	lq.filter("actor_user_id", v.Actor)
	lq.filter("target_type", v.TargetType)
	if !lq.dates(v.From, v.To) {
		return &apiError{Status: http.StatusBadRequest, Detail: q.tr.T("audit.bad_date")}
	}
	v.Query = lq.links()
	var page struct {
		Items      []auditEvent `json:"items"`
		Total      int          `json:"total"`
		TotalExact bool         `json:"total_exact"`
	}
	if err := q.call(http.MethodGet, "/audit-events?"+lq.api.Encode(), nil, &page); err != nil {
		return err
	}
	v.Events, v.Total, v.Pages, v.More = page.Items, page.Total, pageCount(page.Total, auditPerPage), !page.TotalExact
	people := make([]*string, 0, 2*len(v.Events))
	for _, e := range v.Events {
		people = append(people, e.ActorUserID)
		if e.TargetType != nil && *e.TargetType == "user" {
			people = append(people, e.TargetID)
		}
	}
	v.Names = q.userNames(people...)
	var users []adminUser
	if q.call(http.MethodGet, "/users?limit=200", nil, &users) == nil {
		for _, usr := range users {
			v.Actors = append(v.Actors, option{usr.ID, usr.Username})
		}
	}
	u.render(q, http.StatusOK, "audit", v)
	return nil
}

// ---- Operations ------------------------------------------------------------

type opsView struct {
	Status  opsStatus
	Workers []opsWorker
}

func (u *UI) opsPage(q *request) error {
	var v opsView
	if err := q.call(http.MethodGet, "/ops/status", nil, &v.Status); err != nil {
		return err
	}
	if err := q.call(http.MethodGet, "/workers", nil, &v.Workers); err != nil {
		return err
	}
	if q.r.URL.Query().Get("block") == "live" {
		u.renderBlock(q, http.StatusOK, "ops", "ops-live", v)
		return nil
	}
	u.render(q, http.StatusOK, "ops", v)
	return nil
}

// workerPause pauses a worker: it finishes its runs and claims no new ones.
func (u *UI) workerPause(q *request) error { return u.workerAction(q, "pause") }

// workerResume lets a paused worker claim runs again.
func (u *UI) workerResume(q *request) error { return u.workerAction(q, "resume") }

func (u *UI) workerAction(q *request, verb string) error {
	if err := q.call(http.MethodPost, "/workers/"+url.PathEscape(q.r.PathValue("id"))+"/"+verb, nil, nil); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/ops", http.StatusSeeOther)
	return nil
}
