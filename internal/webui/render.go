package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// view is what every template receives.
type view struct {
	AppName, Version, Lang, CSRF, Path string
	Me                                 *me
	Data                               any
	Microsoft, LocalLogin              bool
	tr                                 translator
}

// T translates a message key; args fill its verbs.
func (v view) T(key string, args ...any) string { return v.tr.T(key, args...) }

// OtherLang is the language the switch offers.
func (v view) OtherLang() string {
	if v.Lang == "en" {
		return "pt-BR"
	}
	return "en"
}

var templateFuncs = template.FuncMap{
	// fmtTime shows a time in UTC inside a <time> element; app.js turns it
	// into the reader's local time and language.
	"fmtTime": func(t any) template.HTML {
		var at time.Time
		switch v := t.(type) {
		case time.Time:
			at = v
		case *time.Time:
			if v == nil {
				return "—"
			}
			at = *v
		default:
			return "—"
		}
		at = at.UTC()
		return template.HTML(`<time datetime="` + at.Format(time.RFC3339) + `">` + at.Format("2006-01-02 15:04:05") + ` UTC</time>`)
	},

	"duration": func(s *float64) string {
		if s == nil {
			return "—"
		}
		d := time.Duration(math.Round(*s*10) / 10 * float64(time.Second))
		return d.String()
	},
	// list makes a list of strings (choices of a select).
	"list": func(s ...string) []string { return s },
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},

	"lower": strings.ToLower,
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
		}
		return strconv.FormatInt(n, 10) + " B"
	},

	"query": func(pairs ...any) string {
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if s := fmt.Sprint(pairs[i+1]); s != "" && s != "0" {
				v.Set(fmt.Sprint(pairs[i]), s)
			}
		}
		return v.Encode()
	},
	"add": func(a, b int) int { return a + b },
	"sub": func(a, b int) int { return a - b },
	"str": func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	},
}

// loadTemplates parses each page with the layout and the shared partials.
func (u *UI) loadTemplates() error {
	names, err := fs.Glob(u.files, "templates/*.html")
	if err != nil {
		return err
	}
	funcs := template.FuncMap{"asset": u.assetURL}
	for k, v := range templateFuncs {
		funcs[k] = v
	}
	u.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(u.files, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return fmt.Errorf("webui: template %s: %w", base, err)
		}
		u.pages[base] = t
	}
	return nil
}

func (u *UI) newView(r *http.Request, tr translator, m *me, csrf string, data any) view {
	return view{AppName: u.cfg.AppName, Version: u.cfg.Version, Lang: tr.lang, CSRF: csrf, Path: r.URL.Path,
		Me: m, Data: data, Microsoft: u.ms != nil, LocalLogin: u.cfg.LocalLogin, tr: tr}
}

// render writes a full page (the layout around the page's content), or only
// the named block for htmx requests that ask for one with block.
func (u *UI) render(q *request, status int, page string, data any) {
	u.write(q.w, q.r, status, page, "layout", u.newView(q.r, q.tr, q.me, q.s.CSRF, data))
}

// renderBlock writes one block of a page (an htmx fragment).
func (u *UI) renderBlock(q *request, status int, page, block string, data any) {
	u.write(q.w, q.r, status, page, block, u.newView(q.r, q.tr, q.me, q.s.CSRF, data))
}

// renderAnon writes a page for a browser without a session.
func (u *UI) renderAnon(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	tr := u.translator(r)
	csrf := ""
	if page == "login" {
		csrf = u.anonCSRF(w, r)
	}
	u.write(w, r, status, page, "layout", u.newView(r, tr, nil, csrf, data))
}

func (u *UI) write(w http.ResponseWriter, r *http.Request, status int, page, block string, v view) {
	t, ok := u.pages[page]
	if !ok {
		u.log.Error("web page has no template", "page", page)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		u.log.ErrorContext(r.Context(), "render web page", "page", page, "error", err)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, Accept-Language")
	h.Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
