package webui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"automationhub/web"
)

func TestCataloguesAgree(t *testing.T) {
	cs, err := loadCatalogues(web.FS)
	if err != nil {
		t.Fatal(err)
	}
	if m := cs.missing(); len(m) > 0 {
		t.Errorf("keys missing from a catalogue:\n%s", strings.Join(m, "\n"))
	}
	for lang, c := range cs {
		for k, v := range c {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %s is empty", lang, k)
			}
			if strings.Count(v, "%") != strings.Count(cs["en"][k], "%") {
				t.Errorf("%s: %s has other format verbs than English", lang, k)
			}
		}
	}
}

// TestEveryTextIsCatalogued finds every message key the templates and the
// Go code use and checks both catalogues have it.
func TestEveryTextIsCatalogued(t *testing.T) {
	cs, err := loadCatalogues(web.FS)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	tmplKey := regexp.MustCompile(`\.T "([a-zA-Z0-9_.]+)"`)
	templates, _ := fs.Glob(web.FS, "templates/*.html")
	for _, name := range templates {
		b, _ := fs.ReadFile(web.FS, name)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = name
		}
	}
	goKey := regexp.MustCompile(`(?:\bT\(|"error\.)"?([a-z_]+\.[a-zA-Z0-9_.]+)"`)
	sources, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, name := range sources {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(name)
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = name
		}
		for _, m := range regexp.MustCompile(`"(error\.[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = name
		}
	}
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the scan is broken", len(keys))
	}
	for k, where := range keys {
		for lang, c := range cs {
			if _, ok := c[k]; !ok {
				t.Errorf("%s uses %q, missing from the %s catalogue", where, k, lang)
			}
		}
	}
	// No visible English sentence sits in a template outside the catalogue:
	// text between tags is only template actions or punctuation.
	enumValue := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	textNode := regexp.MustCompile(`>([^<>{}]*[A-Za-z]{3,}[^<>{}]*)<`)
	for _, name := range templates {
		b, _ := fs.ReadFile(web.FS, name)
		for _, m := range textNode.FindAllStringSubmatch(string(b), -1) {
			if enumValue.MatchString(strings.TrimSpace(m[1])) {
				continue // technical values (PYTHON, EXE) read the same in every language
			}
			t.Errorf("%s: inline text %q (use the catalogue)", name, strings.TrimSpace(m[1]))
		}
	}
}

func TestSealer(t *testing.T) {
	a, _ := newSealer(strings.Repeat("k", 32), "session")
	b, _ := newSealer(strings.Repeat("k", 32), "oauth")
	other, _ := newSealer(strings.Repeat("x", 32), "session")
	in := session{Token: "tok", CSRF: "c", Expires: 42}
	sealed, err := a.seal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out session
	if err := a.open(sealed, &out); err != nil || out != in {
		t.Fatalf("round trip: %v %+v", err, out)
	}
	flipped := []byte(sealed)
	flipped[len(flipped)/2] ^= 1
	for name, c := range map[string]struct {
		s     *sealer
		value string
	}{
		"other purpose": {b, sealed}, "other secret": {other, sealed}, "tampered": {a, string(flipped)},
		"truncated": {a, sealed[:10]}, "empty": {a, ""}, "not base64": {a, "!!!"},
	} {
		if err := c.s.open(c.value, &out); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if _, err := newSealer("short", "session"); err == nil {
		t.Error("a short secret was accepted")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/runs?status=FAILED": "/runs?status=FAILED", "//evil.example": "/", "/\\evil.example": "/",
		"https://evil.example/": "/", "runs": "/", "/runs\r\nSet-Cookie: x": "/", "javascript:alert(1)": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPickLanguage(t *testing.T) {
	for _, c := range []struct{ cookie, accept, want string }{
		{"", "pt-BR,pt;q=0.9", "pt-BR"},
		{"", "pt-PT", "pt-BR"},
		{"", "en-GB", "en"},
		{"", "fr, de", "en"},
		{"", "", "en"},
		{"en", "pt-BR", "en"},
		{"pt-BR", "en", "pt-BR"},
		{"xx", "pt-BR", "pt-BR"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", c.accept)
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: langCookie, Value: c.cookie})
		}
		if got := pickLanguage(r); got != c.want {
			t.Errorf("cookie %q, Accept-Language %q: %s, want %s", c.cookie, c.accept, got, c.want)
		}
	}
}

func TestDecodeAPIError(t *testing.T) {
	for _, c := range []struct {
		body   string
		detail string
		field  string
	}{
		{`{"detail":"Field 'Periodo' has invalid format."}`, "Field 'Periodo' has invalid format.", ""},
		{`{"detail":[{"loc":["body","username"],"msg":"too short","type":"x"}]}`, "too short", "username"},
		{`not json`, "Bad Request", ""},
	} {
		e := decodeAPIError(400, []byte(c.body))
		if e.Detail != c.detail || (c.field != "" && e.Fields[c.field] == "") {
			t.Errorf("%s → %+v", c.body, e)
		}
	}
}

func TestSessionCookieSplitsLargeTokens(t *testing.T) {
	u := &UI{}
	u.sessions, _ = newSealer(strings.Repeat("k", 32), "session")
	for _, size := range []int{100, 5000, 9000} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		s := &session{Token: strings.Repeat("t", size), CSRF: "c", Expires: time.Now().Add(time.Hour).Unix()}
		if err := u.saveSession(w, r, s); err != nil {
			t.Fatal(err)
		}
		back := httptest.NewRequest("GET", "/", nil)
		for _, c := range w.Result().Cookies() {
			if len(c.String()) > 4096 {
				t.Errorf("token of %d bytes: cookie %s is %d bytes", size, c.Name, len(c.String()))
			}
			back.AddCookie(c)
		}
		got := u.loadSession(back)
		if got == nil || got.Token != s.Token {
			t.Errorf("token of %d bytes did not survive the cookie", size)
		}
	}
	// Expired sessions are no sessions.
	w := httptest.NewRecorder()
	_ = u.saveSession(w, httptest.NewRequest("GET", "/", nil), &session{Token: "t", Expires: time.Now().Add(-time.Minute).Unix()})
	back := httptest.NewRequest("GET", "/", nil)
	for _, c := range w.Result().Cookies() {
		back.AddCookie(c)
	}
	if u.loadSession(back) != nil {
		t.Error("an expired session was loaded")
	}
}
