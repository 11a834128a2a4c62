package webui

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// agentRoutes registers the remote agents page: enrolment tokens and the
// enrolled agents.
func (u *UI) agentRoutes() {
	m := u.mux
	m.Handle("GET /admin/agents", u.page(u.agentsPage))
	m.Handle("POST /admin/agents/tokens", u.page(u.agentTokenCreate))
	m.Handle("POST /admin/agents/tokens/{tid}/revoke", u.page(u.agentTokenRevoke))
	m.Handle("POST /admin/agents/{aid}/revoke", u.page(u.agentRevoke))
}

type enrollmentTokenRow struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint"`
	MaxUses   *int       `json:"max_uses"`
	Uses      int        `json:"uses"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

type agentRow struct {
	ID         string     `json:"id"`
	Hostname   string     `json:"hostname"`
	OS         string     `json:"os"`
	Version    string     `json:"version"`
	Labels     []string   `json:"labels"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

type agentsView struct {
	Tokens []enrollmentTokenRow
	Agents []agentRow
	// NewToken is the token just created: shown this once.
	NewToken string
	Error    string
	Form     struct{ Name, MaxUses, Hours string }
	Server   string
}

func (u *UI) agentsPage(q *request) error {
	return u.renderAgents(q, http.StatusOK, agentsView{})
}

func (u *UI) renderAgents(q *request, status int, v agentsView) error {
	if err := q.call(http.MethodGet, "/agents/enrollment-tokens", nil, &v.Tokens); err != nil {
		return err
	}
	if err := q.call(http.MethodGet, "/agents", nil, &v.Agents); err != nil {
		return err
	}
	scheme := "https"
	if q.r.TLS == nil && !strings.EqualFold(q.r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "http"
	}
	v.Server = scheme + "://" + q.r.Host
	u.render(q, status, "agents", v)
	return nil
}

func (u *UI) agentTokenCreate(q *request) error {
	body := map[string]any{"name": strings.TrimSpace(q.r.PostFormValue("name"))}
	intField(q.r, "max_uses", body)
	intField(q.r, "expires_in_hours", body)
	var out struct {
		Token string `json:"token"`
	}
	v := agentsView{}
	if err := q.call(http.MethodPost, "/agents/enrollment-tokens", body, &out); err != nil {
		ae, ok := formError(err)
		if !ok {
			return err
		}
		v.Error = q.tr.API(ae.Detail)
		v.Form.Name, v.Form.MaxUses, v.Form.Hours = q.r.PostFormValue("name"), q.r.PostFormValue("max_uses"), q.r.PostFormValue("expires_in_hours")
		return u.renderAgents(q, http.StatusBadRequest, v)
	}
	v.NewToken = out.Token
	return u.renderAgents(q, http.StatusOK, v)
}

func (u *UI) agentTokenRevoke(q *request) error {
	return u.agentDelete(q, "/agents/enrollment-tokens/"+url.PathEscape(q.r.PathValue("tid")))
}

func (u *UI) agentRevoke(q *request) error {
	return u.agentDelete(q, "/agents/"+url.PathEscape(q.r.PathValue("aid")))
}

func (u *UI) agentDelete(q *request, path string) error {
	if err := q.call(http.MethodDelete, path, nil, nil); err != nil {
		if ae, ok := formError(err); ok {
			return u.renderAgents(q, http.StatusBadRequest, agentsView{Error: q.tr.API(ae.Detail)})
		}
		return err
	}
	http.Redirect(q.w, q.r, "/admin/agents", http.StatusSeeOther)
	return nil
}
