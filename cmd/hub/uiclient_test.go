package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"automationhub/internal/config"
	"automationhub/internal/hubtest"
)

// uiClient is a browser without JavaScript: a cookie jar, and the CSRF token
// of the last page it loaded.
type uiClient struct {
	t      testing.TB
	base   string // http://host:port
	client *http.Client
	token  string // CSRF token of the last page
}

var csrfAttr = regexp.MustCompile(`data-csrf="([^"]+)"`)

// newUIClient returns a client that follows redirects only when follow is true.
func newUIClient(t testing.TB, base string, follow bool) *uiClient {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &uiClient{t: t, base: base, client: c}
}

// uiLogin signs in through the login page and returns a client that follows
// redirects.
func uiLogin(t testing.TB, base, user, password string) *uiClient {
	t.Helper()
	c := newUIClient(t, base, true)
	if code, _ := c.get("/login"); code != 200 {
		t.Fatalf("GET /login: %d", code)
	}
	code, body := c.post("/login", url.Values{"username": {user}, "password": {password}})
	if code != 200 || strings.Contains(body, `action="/login"`) {
		t.Fatalf("login as %s: %d\n%s", user, code, body)
	}
	return c
}

func (c *uiClient) do(req *http.Request) (int, string) {
	c.t.Helper()
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if m := csrfAttr.FindStringSubmatch(body); m != nil {
		c.token = m[1]
	}
	if resp.StatusCode/100 == 3 {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, body
}

// get loads a page; for a redirect (client without follow) the body is the
// Location header.
func (c *uiClient) get(path string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

// post submits a form with the CSRF token of the last page (unless form
// already has a "csrf" entry).
func (c *uiClient) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// csrf is the token of the last page loaded (login page: the double-submit
// cookie's value).
func (c *uiClient) csrf() string {
	if c.token != "" {
		return c.token
	}
	u, _ := url.Parse(c.base)
	for _, ck := range c.client.Jar.Cookies(u) {
		if ck.Name == "hub_csrf" {
			return ck.Value
		}
	}
	return ""
}

// startUIHub starts an all-in-one hub on sqlite or postgres with the admin
// password "admin-password-1" and returns its base URL.
func startUIHub(t testing.TB, dbName string, vars map[string]string) (*Main, string) {
	t.Helper()
	all := map[string]string{"DEFAULT_ADMIN_PASSWORD": "admin-password-1"}
	if dbName == "postgres" {
		all["DATABASE_URL"] = hubtest.DatabaseConfig(t, config.Postgres).DSN
	}
	for k, v := range vars {
		all[k] = v
	}
	m, _ := startMain(t, "all", all)
	return m, "http://" + m.Addr.String()
}
