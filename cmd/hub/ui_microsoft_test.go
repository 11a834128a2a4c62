package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"automationhub/internal/identity/oidctest"
)

const uiAudience = "api://automation-hub"

// startAzureUIHub starts a hub whose Azure AD tenant is a local test issuer.
func startAzureUIHub(t *testing.T, db string, extra map[string]string) (string, *oidctest.Issuer) {
	t.Helper()
	iss := oidctest.New(t)
	vars := map[string]string{"AZURE_AD_TENANT_ID": "tenant", "AZURE_AD_CLIENT_ID": "hub-client", "AZURE_AD_AUDIENCE": uiAudience,
		"AZURE_AD_ISSUER": iss.URL, "AZURE_AD_JWKS_URL": iss.JWKSURL()}
	for k, v := range extra {
		vars[k] = v
	}
	_, base := startUIHub(t, db, vars)
	return base, iss
}

// follow walks redirects by hand (the issuer is another host) and returns
// the final status, body or Location, and the redirect chain.
func (c *uiClient) follow(path string, limit int) (int, string, []string) {
	c.t.Helper()
	target := c.base + path
	var chain []string
	for range limit {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		code, body := c.do(req)
		if code/100 != 3 {
			return code, body, chain
		}
		next, err := url.Parse(body)
		if err != nil {
			c.t.Fatalf("bad Location %q", body)
		}
		cur, _ := url.Parse(target)
		target = cur.ResolveReference(next).String()
		chain = append(chain, target)
	}
	c.t.Fatalf("more than %d redirects from %s: %v", limit, path, chain)
	return 0, "", nil
}

func TestUIMicrosoftSignIn(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			base, iss := startAzureUIHub(t, db, nil)
			oid := uuid.NewString()
			iss.SetLogin(oidctest.LoginOptions{AccessAudience: uiAudience, Claims: map[string]any{
				"oid": oid, "sub": "sub-" + oid, "tid": "tenant", "preferred_username": "ana@contoso.com", "name": "Ana Souza"}})

			c := newUIClient(t, base, false)
			if _, body := c.get("/login"); !strings.Contains(body, `href="/auth/microsoft?next=%2f"`) || !strings.Contains(body, `action="/login"`) {
				t.Fatalf("login page lacks the Microsoft button or the local form:\n%s", body)
			}
			code, body, chain := c.follow("/auth/microsoft?next=/runs", 5)
			if code != 200 || !strings.Contains(body, "Ana Souza") || chain[len(chain)-1] != base+"/runs" {
				t.Fatalf("Microsoft sign-in ended %d at %v:\n%s", code, chain, body)
			}
			// The authorization request used PKCE and asked for the API scope.
			auth, _ := url.Parse(chain[0])
			q := auth.Query()
			if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
				!strings.Contains(q.Get("scope"), uiAudience+"/.default") || q.Get("redirect_uri") != base+"/auth/callback" {
				t.Errorf("authorization request: %v", q)
			}
			// The session works for later pages; the account was provisioned.
			if code, body := c.get("/runs"); code != 200 || !strings.Contains(body, "Ana Souza") {
				t.Errorf("after sign-in GET /runs = %d", code)
			}
			// Microsoft accounts have no password in the hub: the account page
			// says so, and a password change is refused with the API's 409.
			if code, body := c.get("/account"); code != 200 || !strings.Contains(body, `id="password-elsewhere"`) || strings.Contains(body, `id="password-form"`) {
				t.Errorf("account page of a Microsoft user: %d", code)
			}
			code, body = c.post("/account/password", url.Values{"current_password": {"x"}, "new_password": {"a-new-password"}, "confirm_password": {"a-new-password"}})
			if code != http.StatusConflict || !strings.Contains(body, `id="password-error"`) {
				t.Errorf("password change of a Microsoft user: %d", code)
			}
			admin := login(t, base+"/api/v1", "admin", "admin-password-1")
			var users []struct{ Username, AuthSource string }
			if code := admin.call("GET", "/users?limit=200", "", nil, &users); code != 200 {
				t.Fatalf("list users: %d", code)
			}
			found := false
			for _, u := range users {
				found = found || u.Username == "ana@contoso.com"
			}
			if !found {
				t.Errorf("the Azure user was not provisioned: %+v", users)
			}

			// A replayed callback (same state, used code) is refused.
			last := chain[len(chain)-2] // …/auth/callback?code=…&state=…
			cb, _ := url.Parse(last)
			replay := newUIClient(t, base, false)
			if code, _ := replay.get(cb.RequestURI()); code != http.StatusBadRequest {
				t.Errorf("callback without the sign-in cookie = %d", code)
			}

			for _, bad := range []struct {
				name   string
				opts   oidctest.LoginOptions
				status int
				want   string
			}{
				{"denied", oidctest.LoginOptions{Deny: true, AccessAudience: uiAudience}, 401, "did not succeed"},
				{"wrong nonce", oidctest.LoginOptions{WrongNonce: true, AccessAudience: uiAudience, Claims: map[string]any{"oid": oid, "sub": "s", "tid": "tenant"}}, 401, "did not succeed"},
				{"token for another API", oidctest.LoginOptions{AccessAudience: "api://other", Claims: map[string]any{"oid": oid, "sub": "s", "tid": "tenant"}}, 403, "no access"},
			} {
				iss.SetLogin(bad.opts)
				c := newUIClient(t, base, false)
				code, body, _ := c.follow("/auth/microsoft", 5)
				if code != bad.status || !strings.Contains(body, bad.want) {
					t.Errorf("%s: %d\n%s", bad.name, code, body)
				}
				if code, _ := c.get("/runs"); code != http.StatusSeeOther {
					t.Errorf("%s: a session was created (GET /runs = %d)", bad.name, code)
				}
			}

			// A forged state is refused even with the sign-in cookie.
			iss.SetLogin(oidctest.LoginOptions{AccessAudience: uiAudience, Claims: map[string]any{"oid": oid, "sub": "s", "tid": "tenant"}})
			c2 := newUIClient(t, base, false)
			code, loc := c2.get("/auth/microsoft")
			if code != http.StatusFound {
				t.Fatalf("start: %d", code)
			}
			au, _ := url.Parse(loc)
			if code, _ := c2.get("/auth/callback?code=x&state=forged-" + au.Query().Get("state")); code != http.StatusBadRequest {
				t.Errorf("forged state = %d", code)
			}
		})
	}
}

func TestUIMicrosoftOnly(t *testing.T) {
	base, _ := startAzureUIHub(t, "sqlite", map[string]string{"AUTH_MODE": "azure"})
	c := newUIClient(t, base, false)
	_, body := c.get("/login")
	if strings.Contains(body, `action="/login"`) || !strings.Contains(body, "Sign in with Microsoft") {
		t.Errorf("azure-only login page:\n%s", body)
	}
	if code, _ := c.post("/login", url.Values{"username": {"admin"}, "password": {"admin-password-1"}}); code != http.StatusBadRequest {
		t.Errorf("local login when AUTH_MODE=azure = %d", code)
	}
}
