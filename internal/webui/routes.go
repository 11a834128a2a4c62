package webui

import (
	"net/http"
	"strings"
	"time"
)

// routes registers every page. Paths are the UI's own; the API keeps
// /api/v1, /docs, /metrics and the health routes.
func (u *UI) routes() {
	m := u.mux
	m.HandleFunc("GET /static/{hash}/{name}", u.serveAsset)
	m.HandleFunc("GET /login", u.loginPage)
	m.HandleFunc("POST /login", u.loginSubmit)
	m.HandleFunc("POST /logout", u.logout)
	m.HandleFunc("GET /auth/microsoft", u.microsoftStart)
	m.HandleFunc("GET /auth/callback", u.microsoftCallback)
	m.HandleFunc("GET /lang/{lang}", u.switchLanguage)

	m.Handle("GET /{$}", u.page(u.portalHome))
	m.Handle("GET /portal/{slug}", u.page(u.portalDomain))
	m.Handle("GET /services/{id}", u.page(u.serviceForm))
	m.Handle("POST /services/{id}", u.page(u.serviceSubmit))

	m.Handle("GET /runs", u.page(u.runList))
	m.Handle("GET /runs/{id}", u.page(u.runPage))
	m.Handle("POST /runs/{id}/cancel", u.page(u.runCancel))
	m.Handle("GET /runs/{id}/logs/ws", u.withSession(u.runLogSocket))
	m.Handle("GET /runs/{id}/logs", u.withSession(u.runLogPage))
	m.Handle("GET /runs/{id}/artifacts/{aid}", u.withSession(u.runArtifact))

	u.registryRoutes()
	u.scheduleRoutes()
	u.agentRoutes()
	u.adminRoutes()
	u.manageRoutes()
	u.accountRoutes()
	u.secretsRoutes()
	u.alertRoutes()

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.plainError(w, r, http.StatusNotFound, "error.not_found")
	})
}

// withSession wraps handlers that stream an API answer (downloads, log
// pages, the log socket): they need a session but no page. Script requests
// without one get 401 instead of the login page.
func (u *UI) withSession(h func(w http.ResponseWriter, r *http.Request, s *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := u.loadSession(r)
		if s == nil {
			if strings.HasSuffix(r.URL.Path, "/ws") || strings.Contains(r.Header.Get("Accept"), "application/json") {
				http.Error(w, "Not authenticated", http.StatusUnauthorized)
				return
			}
			u.toLogin(w, r)
			return
		}
		h(w, r, s)
	})
}

// switchLanguage stores the chosen language for a year and goes back.
func (u *UI) switchLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.PathValue("lang")
	for _, tag := range languages {
		if tag.String() == lang {
			http.SetCookie(w, u.cookie(r, langCookie, lang, 365*24*time.Hour))
		}
	}
	http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}
