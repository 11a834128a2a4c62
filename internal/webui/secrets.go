package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// secretsRoutes registers the robot configuration page, the user's API
// tokens and the service accounts of administration.
func (u *UI) secretsRoutes() {
	m := u.mux
	m.Handle("GET /robots/{id}/config", u.page(u.robotConfig))
	m.Handle("POST /robots/{id}/config", u.page(u.robotConfigSet))
	m.Handle("POST /robots/{id}/config/delete", u.page(u.robotConfigDelete))
	m.Handle("GET /account/tokens", u.page(u.tokenList))
	m.Handle("POST /account/tokens", u.page(u.tokenCreate))
	m.Handle("POST /account/tokens/{tid}/revoke", u.page(u.tokenRevoke))
	m.Handle("GET /admin/service-accounts", u.page(u.serviceAccounts))
	m.Handle("POST /admin/service-accounts", u.page(u.serviceAccountCreate))
	m.Handle("GET /admin/service-accounts/{id}", u.page(u.serviceAccount))
	m.Handle("POST /admin/service-accounts/{id}/tokens", u.page(u.serviceAccountToken))
	m.Handle("POST /admin/service-accounts/{id}/tokens/{tid}/revoke", u.page(u.serviceAccountRevoke))
}

// ---- Robot configuration ------------------------------------------------

// configVar is one variable as GET /robots/{id}/env shows it (value null for a
// secret: the UI never has it).
type configVar struct {
	Key       string    `json:"key"`
	IsSecret  bool      `json:"is_secret"`
	IsSet     bool      `json:"is_set"`
	Value     *string   `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
}

// configForm is the add/replace form as typed (never a secret's value).
type configForm struct {
	Key      string
	IsSecret bool
}

type robotConfigView struct {
	Robot      registryRobot
	Env        string
	Envs       []string
	Vars       []configVar
	Required   []string // the active version's required keys
	Missing    []string // required keys not configured in Env
	CanPublish bool
	Form       configForm
	Error      string
	Saved      string
}

// IsRequired reports whether the active version requires key.
func (v robotConfigView) IsRequired(key string) bool { return slices.Contains(v.Required, key) }

func configEnv(r *http.Request) string {
	env := strings.ToUpper(strings.TrimSpace(r.FormValue("env")))
	if env == "" {
		env = "PROD"
	}
	return env
}

func (u *UI) robotConfig(q *request) error {
	v := robotConfigView{Form: configForm{Key: q.r.URL.Query().Get("key"), IsSecret: q.r.URL.Query().Get("secret") == "1"}}
	if k := q.r.URL.Query().Get("saved"); k != "" {
		v.Saved = k
	}
	return u.renderRobotConfig(q, http.StatusOK, v)
}

// renderRobotConfig shows the configuration of one environment.
func (u *UI) renderRobotConfig(q *request, status int, v robotConfigView) error {
	id := url.PathEscape(q.r.PathValue("id"))
	v.Env, v.Envs, v.CanPublish = configEnv(q.r), []string{"PROD", "HML", "TEST"}, q.me.Can("robot.publish")
	if !slices.Contains(v.Envs, v.Env) {
		v.Env = "PROD"
	}
	if err := q.call(http.MethodGet, "/robots/"+id, nil, &v.Robot); err != nil {
		return err
	}
	if err := q.call(http.MethodGet, "/robots/"+id+"/env?env="+v.Env, nil, &v.Vars); err != nil {
		return err
	}
	var versions []struct {
		IsActive bool     `json:"is_active"`
		Required []string `json:"required_env_keys_json"`
	}
	if err := q.call(http.MethodGet, "/robots/"+id+"/versions", nil, &versions); err != nil {
		return err
	}
	for _, ver := range versions {
		if ver.IsActive {
			v.Required = ver.Required
		}
	}
	for _, k := range v.Required {
		if !slices.ContainsFunc(v.Vars, func(e configVar) bool { return e.Key == k }) {
			v.Missing = append(v.Missing, k)
		}
	}
	u.render(q, status, "robot_config", v)
	return nil
}

// robotConfigSet creates or replaces one variable. A secret's value is
// written, never shown again: the form never holds it after the request.
func (u *UI) robotConfigSet(q *request) error {
	id := q.r.PathValue("id")
	env := configEnv(q.r)
	f := configForm{Key: strings.TrimSpace(q.r.PostFormValue("key")), IsSecret: q.r.PostFormValue("is_secret") == "1"}
	value := q.r.PostFormValue("value")
	body := map[string]any{"items": []map[string]any{{"key": f.Key, "value": value, "is_secret": f.IsSecret}}}
	err := q.call(http.MethodPut, "/robots/"+url.PathEscape(id)+"/env?env="+url.QueryEscape(env), body, nil)
	if err == nil {
		http.Redirect(q.w, q.r, "/robots/"+url.PathEscape(id)+"/config?"+url.Values{"env": {env}, "saved": {f.Key}}.Encode(), http.StatusSeeOther)
		return nil
	}
	ae, ok := formError(err)
	if !ok {
		return err
	}
	msg, fields := q.tr.apiFormError(ae)
	for _, m := range fields {
		msg = m // a 422 names the field: show its message
	}
	return u.renderRobotConfig(q, ae.Status, robotConfigView{Form: f, Error: msg})
}

func (u *UI) robotConfigDelete(q *request) error {
	id, env, key := q.r.PathValue("id"), configEnv(q.r), q.r.PostFormValue("key")
	err := q.call(http.MethodDelete, "/robots/"+url.PathEscape(id)+"/env/"+url.PathEscape(key)+"?env="+url.QueryEscape(env), nil, nil)
	if err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		return u.renderRobotConfig(q, ae.Status, robotConfigView{Error: q.tr.API(ae.Detail)})
	}
	http.Redirect(q.w, q.r, "/robots/"+url.PathEscape(id)+"/config?env="+url.QueryEscape(env), http.StatusSeeOther)
	return nil
}

// ---- API tokens -----------------------------------------------------------

// apiToken is a token as GET /tokens shows it (never the token).
type apiToken struct {
	ID          string     `json:"id"`
	UserID      string     `json:"user_id"`
	Name        string     `json:"name"`
	Hint        string     `json:"hint"`
	Permissions []string   `json:"permissions"`
	RobotID     *string    `json:"robot_id"`
	ScopeTag    *string    `json:"scope_tag"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Token       string     `json:"token"` // only in the answer that creates it
}

// Expired reports whether the token no longer works.
func (t apiToken) Expired() bool { return t.ExpiresAt != nil && !time.Now().Before(*t.ExpiresAt) }

// tokenForm is the new-token form as typed.
type tokenForm struct {
	Name        string
	Permissions []string
	Robot, Tag  string
	Days        string
}

// Has reports whether the form asks for perm.
func (f tokenForm) Has(perm string) bool { return slices.Contains(f.Permissions, perm) }

type tokensView struct {
	Tokens []apiToken
	// Offered are the permissions a new token may list.
	Offered []string
	Form    tokenForm
	// Created is the token just made: shown this once.
	Created *apiToken
	Error   string
	// Account is the service account whose tokens these are (admin pages).
	Account *adminUser
	// Action is where the new-token form posts (and revocations, below it).
	Action string
}

// expiryDays are the choices of the new-token form ("" never).
var expiryDays = []string{"30", "90", "365", ""}

// ExpiryChoices lists the expiry choices.
func (tokensView) ExpiryChoices() []string { return expiryDays }

func (u *UI) tokenList(q *request) error {
	return u.renderTokens(q, http.StatusOK, tokensView{Form: tokenForm{Days: "90"}})
}

func (u *UI) renderTokens(q *request, status int, v tokensView) error {
	if err := q.call(http.MethodGet, "/tokens", nil, &v.Tokens); err != nil {
		return err
	}
	v.Offered, v.Action = q.me.Permissions, "/account/tokens"
	u.render(q, status, "tokens", v)
	return nil
}

// readTokenForm reads the new-token form and builds the API body; the
// robot may be given by name (resolved with the caller's rights) or id.
func (q *request) readTokenForm() (tokenForm, map[string]any, error) {
	f := tokenForm{Name: strings.TrimSpace(q.r.PostFormValue("name")), Permissions: q.r.PostForm["permissions"],
		Robot: strings.TrimSpace(q.r.PostFormValue("robot")), Tag: strings.TrimSpace(q.r.PostFormValue("tag")), Days: q.r.PostFormValue("days")}
	body := map[string]any{"name": f.Name, "permissions": append([]string{}, f.Permissions...)}
	if days, err := strconv.Atoi(f.Days); err == nil && days > 0 {
		body["expires_in_days"] = days
	}
	if f.Tag != "" {
		body["scope_tag"] = f.Tag
	}
	if f.Robot != "" {
		var page struct {
			Items []registryRobot `json:"items"`
		}
		if err := q.call(http.MethodGet, "/robots?"+url.Values{"q": {f.Robot}, "include_versions": {"false"}, "limit": {"200"}}.Encode(), nil, &page); err != nil {
			return f, nil, err
		}
		id := f.Robot // an id is sent as it is; the API checks it
		for _, r := range page.Items {
			if r.Name == f.Robot || r.ID == f.Robot {
				id = r.ID
			}
		}
		body["robot_id"] = id
	}
	return f, body, nil
}

func (u *UI) tokenCreate(q *request) error {
	f, body, err := q.readTokenForm()
	if err != nil {
		return err
	}
	var created apiToken
	if err := q.call(http.MethodPost, "/tokens", body, &created); err != nil {
		msg, ok := q.tokenFormError(err)
		if !ok {
			return err
		}
		return u.renderTokens(q, statusOf(err), tokensView{Form: f, Error: msg})
	}
	// The token is shown in this answer only; the page is not cached.
	q.w.Header().Set("Cache-Control", "no-store")
	return u.renderTokens(q, http.StatusCreated, tokensView{Form: tokenForm{Days: "90"}, Created: &created})
}

func (u *UI) tokenRevoke(q *request) error {
	if err := q.call(http.MethodDelete, "/tokens/"+url.PathEscape(q.r.PathValue("tid")), nil, nil); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/account/tokens", http.StatusSeeOther)
	return nil
}

// tokenFormError turns the API's refusal of a new token into the form's
// message: a field it does not like, or a permission the owner lacks (403).
func (q *request) tokenFormError(err error) (string, bool) {
	ae, ok := asAPIError(err)
	if !ok || ae.Status == http.StatusUnauthorized || ae.Status >= 500 {
		return "", false
	}
	msg, fields := q.tr.apiFormError(ae)
	for _, m := range fields {
		msg = m
	}
	return msg, true
}

func statusOf(err error) int {
	if ae, ok := asAPIError(err); ok {
		return ae.Status
	}
	return http.StatusInternalServerError
}

// ---- Service accounts (administration) ----------------------------------

type serviceAccountsView struct {
	Accounts []adminUser
	Roles    []string
	Form     newUserForm
	Error    string
}

func (u *UI) serviceAccounts(q *request) error {
	return u.renderServiceAccounts(q, http.StatusOK, serviceAccountsView{Form: newUserForm{Role: "None"}})
}

func (u *UI) renderServiceAccounts(q *request, status int, v serviceAccountsView) error {
	if err := q.call(http.MethodGet, "/service-accounts", nil, &v.Accounts); err != nil {
		return err
	}
	v.Roles = adminRoles
	u.render(q, status, "service_accounts", v)
	return nil
}

func (u *UI) serviceAccountCreate(q *request) error {
	f := newUserForm{Username: strings.TrimSpace(q.r.PostFormValue("username")), FullName: strings.TrimSpace(q.r.PostFormValue("full_name")),
		Role: q.r.PostFormValue("role")}
	body := map[string]any{"username": f.Username, "role": f.Role}
	if f.FullName != "" {
		body["full_name"] = f.FullName
	}
	var created adminUser
	if err := q.call(http.MethodPost, "/service-accounts", body, &created); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		msg, _ := q.tr.apiFormError(ae)
		return u.renderServiceAccounts(q, ae.Status, serviceAccountsView{Form: f, Error: msg})
	}
	http.Redirect(q.w, q.r, "/admin/service-accounts/"+url.PathEscape(created.ID), http.StatusSeeOther)
	return nil
}

// serviceAccountView loads the account and its tokens.
func (u *UI) renderServiceAccount(q *request, status int, v tokensView) error {
	id := q.r.PathValue("id")
	var accounts []adminUser
	if err := q.call(http.MethodGet, "/service-accounts", nil, &accounts); err != nil {
		return err
	}
	for i := range accounts {
		if accounts[i].ID == id {
			v.Account = &accounts[i]
		}
	}
	if v.Account == nil {
		return &apiError{Status: http.StatusNotFound, Detail: "Service account not found."}
	}
	if err := q.call(http.MethodGet, "/tokens?user_id="+url.QueryEscape(id), nil, &v.Tokens); err != nil {
		return err
	}
	v.Offered, v.Action = grantActions, "/admin/service-accounts/"+url.PathEscape(id)+"/tokens"
	u.render(q, status, "service_account", v)
	return nil
}

func (u *UI) serviceAccount(q *request) error {
	return u.renderServiceAccount(q, http.StatusOK, tokensView{Form: tokenForm{Days: "365"}})
}

func (u *UI) serviceAccountToken(q *request) error {
	f, body, err := q.readTokenForm()
	if err != nil {
		return err
	}
	var created apiToken
	if err := q.call(http.MethodPost, "/service-accounts/"+url.PathEscape(q.r.PathValue("id"))+"/tokens", body, &created); err != nil {
		msg, ok := q.tokenFormError(err)
		if !ok {
			return err
		}
		return u.renderServiceAccount(q, statusOf(err), tokensView{Form: f, Error: msg})
	}
	q.w.Header().Set("Cache-Control", "no-store")
	return u.renderServiceAccount(q, http.StatusCreated, tokensView{Form: tokenForm{Days: "365"}, Created: &created})
}

func (u *UI) serviceAccountRevoke(q *request) error {
	if err := q.call(http.MethodDelete, "/tokens/"+url.PathEscape(q.r.PathValue("tid")), nil, nil); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/admin/service-accounts/"+url.PathEscape(q.r.PathValue("id")), http.StatusSeeOther)
	return nil
}
