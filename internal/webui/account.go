package webui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// names maps user ids to how the UI names them (full name, else user name).
type names map[string]string

// Of names the user with id; an id the directory did not name is shown as
// it is, and no id as nothing.
func (n names) Of(id *string) string {
	if id == nil {
		return ""
	}
	if s, ok := n[*id]; ok {
		return s
	}
	return *id
}

// userNames names the given users with one directory read of the API; a
// failed read only leaves them as ids.
func (q *request) userNames(ids ...*string) names {
	out := names{}
	var list []string
	for _, id := range ids {
		if id != nil && *id != "" && !slices.Contains(list, *id) {
			list = append(list, *id)
		}
	}
	if len(list) == 0 {
		return out
	}
	var dir struct {
		Items []struct {
			ID       string  `json:"id"`
			Username string  `json:"username"`
			FullName *string `json:"full_name"`
		} `json:"items"`
	}
	if err := q.call(http.MethodGet, "/users/directory?"+url.Values{"ids": {strings.Join(list, ",")}}.Encode(), nil, &dir); err != nil {
		q.u.log.WarnContext(q.r.Context(), "user names unavailable", "error", err)
		return out
	}
	for _, u := range dir.Items {
		out[u.ID] = u.Username
		if u.FullName != nil && *u.FullName != "" {
			out[u.ID] = *u.FullName
		}
	}
	return out
}

// accountRoutes registers the signed-in user's own account page.
func (u *UI) accountRoutes() {
	u.mux.Handle("GET /account", u.page(u.accountPage))
	u.mux.Handle("POST /account/password", u.page(u.accountPassword))
}

type accountView struct {
	// Changed confirms a password change that just happened.
	Changed bool
	// Error and Fields are the API's answer to the password form.
	Error  string
	Fields map[string]string
}

func (u *UI) accountPage(q *request) error {
	u.render(q, http.StatusOK, "account", accountView{Changed: q.r.URL.Query().Get("changed") == "1"})
	return nil
}

// accountPassword changes the user's own password. The API revokes every
// older token, this session's included, and answers with a fresh one that
// replaces the session's: this browser stays signed in, others are signed
// out.
func (u *UI) accountPassword(q *request) error {
	current, next := q.r.PostFormValue("current_password"), q.r.PostFormValue("new_password")
	if next != q.r.PostFormValue("confirm_password") {
		u.render(q, http.StatusUnprocessableEntity, "account", accountView{Fields: map[string]string{"confirm_password": q.tr.T("account.mismatch")}})
		return nil
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := q.call(http.MethodPost, "/auth/password", map[string]string{"current_password": current, "new_password": next}, &tok)
	if err != nil {
		ae, ok := asAPIError(err)
		if !ok || ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden || ae.Status >= 500 {
			return err
		}
		v := accountView{}
		v.Error, v.Fields = q.tr.apiFormError(ae)
		if ae.Status == http.StatusBadRequest && len(v.Fields) == 0 {
			// The one 400 of the route: the current password is wrong.
			v.Fields = map[string]string{"current_password": v.Error}
		}
		if len(v.Fields) > 0 {
			v.Error = "" // shown next to the fields
		}
		if ae.Status == http.StatusTooManyRequests {
			if ra := ae.Header.Get("Retry-After"); ra != "" {
				q.w.Header().Set("Retry-After", ra)
			}
		}
		u.render(q, ae.Status, "account", v)
		return nil
	}
	s := &session{Token: tok.AccessToken, CSRF: q.s.CSRF, Expires: tokenExpiry(tok.AccessToken, time.Now().Add(time.Hour)).Unix()}
	if err := u.saveSession(q.w, q.r, s); err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/account?changed=1", http.StatusSeeOther)
	return nil
}
