// Package webui is the hub's browser interface: server-rendered pages
// (html/template, enhanced by a vendored htmx and a little JavaScript) for
// the self-service portal, runs with live logs, the robot registry,
// administration and operations, in English and Brazilian Portuguese.
//
// The UI is a client of the JSON API like any other: every read and write
// goes through the API's routes, in process, with the signed-in user's
// bearer token, so the API's validation and permission checks apply
// unchanged. The token lives in a sealed, HttpOnly session cookie.
package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"time"
)

// Config tunes the UI.
type Config struct {
	// AppName is shown in page titles.
	AppName string
	// SecretKey seals session cookies (the hub's SECRET_KEY).
	SecretKey string
	// PublicHTTPS marks cookies Secure even on plain-HTTP hops (a
	// TLS-terminating proxy in front: HUB_PUBLIC_URL is https).
	PublicHTTPS bool
	// LocalLogin shows the username/password form.
	LocalLogin bool
	// Microsoft enables "Sign in with Microsoft"; nil hides it.
	Microsoft *MicrosoftConfig
	// Version is shown in the footer.
	Version string
	Logger  *slog.Logger
}

// UI serves the browser pages. Create it with New and mount Handler on the
// API server.
type UI struct {
	cfg      Config
	api      http.Handler
	files    fs.FS
	log      *slog.Logger
	sessions *sealer
	oauth    *sealer
	msgs     catalogues
	pages    map[string]*template.Template
	assets   map[string]asset // by logical name ("app.css")
	byPath   map[string]asset // by fingerprinted URL path
	ms       *microsoft
	mux      *http.ServeMux
	handler  http.Handler
}

type asset struct {
	name, urlPath, contentType string
	body                       []byte
}

// New builds the UI over api, the API's in-process handler, with the
// templates, catalogues and assets of files (web.FS).
func New(api http.Handler, files fs.FS, cfg Config) (*UI, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AppName == "" {
		cfg.AppName = "Automation Hub"
	}
	u := &UI{cfg: cfg, api: api, files: files, log: cfg.Logger}
	var err error
	if u.sessions, err = newSealer(cfg.SecretKey, "session"); err != nil {
		return nil, err
	}
	if u.oauth, err = newSealer(cfg.SecretKey, "oauth"); err != nil {
		return nil, err
	}
	if u.msgs, err = loadCatalogues(files); err != nil {
		return nil, err
	}
	if err := u.loadAssets(); err != nil {
		return nil, err
	}
	if err := u.loadTemplates(); err != nil {
		return nil, err
	}
	if cfg.Microsoft != nil {
		u.ms = newMicrosoft(*cfg.Microsoft)
	}
	u.mux = http.NewServeMux()
	u.routes()
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin):
	// cross-origin state-changing requests are refused before any handler,
	// in addition to the CSRF token each form carries.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.plainError(w, r, http.StatusForbidden, "error.csrf")
	}))
	u.handler = cop.Handler(u.mux)
	return u, nil
}

// ServeHTTP serves the UI.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.handler.ServeHTTP(w, r) }

// loadAssets fingerprints static/* so they can be cached for a year.
func (u *UI) loadAssets() error {
	u.assets, u.byPath = map[string]asset{}, map[string]asset{}
	entries, err := fs.ReadDir(u.files, "static")
	if err != nil {
		return fmt.Errorf("webui: static assets: %w", err)
	}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
	for _, e := range entries {
		ct, ok := types[path.Ext(e.Name())]
		if !ok {
			continue // licences and notes are not served
		}
		body, err := fs.ReadFile(u.files, "static/"+e.Name())
		if err != nil {
			return fmt.Errorf("webui: static assets: %w", err)
		}
		sum := sha256.Sum256(body)
		a := asset{name: e.Name(), contentType: ct, body: body,
			urlPath: "/static/" + hex.EncodeToString(sum[:6]) + "/" + e.Name()}
		u.assets[a.name], u.byPath[a.urlPath] = a, a
	}
	return nil
}

func (u *UI) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := u.byPath[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// assetURL is the fingerprinted URL of a static file (template func).
func (u *UI) assetURL(name string) (string, error) {
	a, ok := u.assets[name]
	if !ok {
		return "", fmt.Errorf("webui: no static asset %q", name)
	}
	return a.urlPath, nil
}

// me is the signed-in user as GET /auth/me tells it.
type me struct {
	User *struct {
		ID         string  `json:"id"`
		Username   string  `json:"username"`
		FullName   *string `json:"full_name"`
		Email      *string `json:"email"`
		AuthSource string  `json:"auth_source"`
	} `json:"user"`
	Subject     string   `json:"subject"`
	Role        string   `json:"role"`
	AuthSource  string   `json:"auth_source"`
	Permissions []string `json:"permissions"`
}

// Can reports whether the user holds perm on at least one robot.
func (m *me) Can(perm string) bool {
	for _, p := range m.Permissions {
		if p == perm {
			return true
		}
	}
	return false
}

// Name is how the header names the user.
func (m *me) Name() string {
	if m.User != nil {
		if m.User.FullName != nil && *m.User.FullName != "" {
			return *m.User.FullName
		}
		return m.User.Username
	}
	return m.Subject
}

// request is one signed-in page request.
type request struct {
	u  *UI
	w  http.ResponseWriter
	r  *http.Request
	s  *session
	me *me
	tr translator
}

// call sends an API request as the signed-in user.
func (q *request) call(method, path string, in, out any) error {
	return q.ui().call(q.r, q.s.Token, method, path, in, out)
}

func (q *request) ui() *UI { return q.u }

// maxFormBytes bounds the body of a page's form.
const maxFormBytes = 1 << 20

// pageFunc serves one signed-in page; returned errors become error pages.
type pageFunc func(q *request) error

// page wraps a handler: it needs a session (else the login page), checks
// the CSRF token of state-changing requests, loads the user and turns
// errors into friendly pages.
func (u *UI) page(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr := u.translator(r)
		s := u.loadSession(r)
		if s == nil {
			u.toLogin(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Page forms are small; uploads have their own streamed route.
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			var tooLarge *http.MaxBytesError
			if err := r.ParseForm(); errors.As(err, &tooLarge) {
				u.plainError(w, r, http.StatusRequestEntityTooLarge, "error.too_large")
				return
			}
			if !u.csrfOK(r, s) {
				u.plainError(w, r, http.StatusForbidden, "error.csrf")
				return
			}
		}
		var m me
		if err := u.call(r, s.Token, http.MethodGet, "/auth/me", nil, &m); err != nil {
			if ae, ok := asAPIError(err); ok && ae.Status == http.StatusUnauthorized {
				u.clearSession(w, r)
				u.toLogin(w, r)
				return
			}
			u.fail(&request{u: u, w: w, r: r, s: s, tr: tr, me: &me{}}, err)
			return
		}
		q := &request{u: u, w: w, r: r, s: s, me: &m, tr: tr}
		if err := h(q); err != nil {
			u.fail(q, err)
		}
	})
}

// toLogin sends an anonymous browser to the login page, remembering where
// it was going (htmx requests get a full-page redirect header).
func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// fail renders an error page for err: the API's status and message for API
// errors, a generic message (and a log line) for anything else.
func (u *UI) fail(q *request, err error) {
	status, detail := http.StatusInternalServerError, ""
	if ae, ok := asAPIError(err); ok {
		status, detail = ae.Status, q.tr.API(ae.Detail)
	} else if errors.Is(err, context.Canceled) {
		return
	} else {
		u.log.ErrorContext(q.r.Context(), "web page failed", "path", q.r.URL.Path, "error", err)
	}
	key := map[int]string{http.StatusNotFound: "error.not_found", http.StatusForbidden: "error.forbidden",
		http.StatusBadRequest: "error.bad_request", http.StatusUnprocessableEntity: "error.bad_request",
		http.StatusConflict: "error.bad_request"}[status]
	if key == "" {
		key = "error.internal"
		if status < 500 {
			key = "error.bad_request"
		}
	}
	u.render(q, status, "error", map[string]any{"Message": q.tr.T(key), "Detail": detail, "Status": status})
}

// plainError is the error page of requests without a signed-in user.
func (u *UI) plainError(w http.ResponseWriter, r *http.Request, status int, key string) {
	tr := u.translator(r)
	u.renderAnon(w, r, status, "error", map[string]any{"Message": tr.T(key), "Status": status})
}

func (u *UI) translator(r *http.Request) translator {
	lang := pickLanguage(r)
	return translator{lang: lang, c: u.msgs[lang]}
}
