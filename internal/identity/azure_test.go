package identity_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"automationhub/internal/identity"
	"automationhub/internal/identity/oidctest"
)

const (
	azAudience = "api://automation-hub"
	azTenant   = "11111111-2222-3333-4444-555555555555"
)

// azClaims are the claims of a good token, with overrides applied (a nil
// value removes a claim).
func azClaims(overrides map[string]any) map[string]any {
	c := map[string]any{
		"aud":                azAudience,
		"oid":                "oid-1",
		"sub":                "sub-1",
		"tid":                azTenant,
		"preferred_username": "alice@contoso.example",
		"upn":                "alice.upn@contoso.example",
		"email":              "alice.mail@contoso.example",
		"name":               "Alice Example",
		"groups":             []string{"g-admins", "g-ops"},
		"roles":              []string{"Operator"},
	}
	for k, v := range overrides {
		c[k] = v
	}
	return c
}

// azVerifier returns a verifier for iss. viaDiscovery leaves JWKSURL empty.
func azVerifier(iss *oidctest.Issuer, viaDiscovery bool, mod func(*identity.AzureConfig)) *identity.AzureVerifier {
	cfg := identity.AzureConfig{TenantID: azTenant, ClientID: "client-1", Audience: azAudience, Issuer: iss.URL}
	if !viaDiscovery {
		cfg.JWKSURL = iss.JWKSURL()
	}
	if mod != nil {
		mod(&cfg)
	}
	return identity.NewAzureVerifier(cfg)
}

// azWantRejected checks that err wraps ErrAzureToken, carries reason and
// does not echo the token.
func azWantRejected(t *testing.T, err error, reason, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify succeeded, want rejection %q", reason)
	}
	if !errors.Is(err, identity.ErrAzureToken) {
		t.Fatalf("error %q does not wrap ErrAzureToken", err)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("error %q, want reason %q", err, reason)
	}
	if token != "" && len(token) > 8 && strings.Contains(err.Error(), token) {
		t.Errorf("error message contains the raw token")
	}
}

func azSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestAzureVerifierAccepts(t *testing.T) {
	iss := oidctest.New(t)
	now := time.Now()
	iat := now.Add(-time.Minute).Unix()
	exp := now.Add(time.Hour).Unix()

	cases := []struct {
		name  string
		claim map[string]any
		want  func(c *identity.AzureClaims) string // "" when fine
	}{
		{
			name:  "good token",
			claim: map[string]any{"iat": iat, "exp": exp},
			want: func(c *identity.AzureClaims) string {
				want := &identity.AzureClaims{
					ObjectID: "oid-1", Subject: "sub-1", TenantID: azTenant,
					PreferredUsername: "alice@contoso.example", UPN: "alice.upn@contoso.example",
					Email: "alice.mail@contoso.example", Name: "Alice Example",
					Groups: []string{"g-admins", "g-ops"}, Roles: []string{"Operator"},
					IssuedAt: time.Unix(iat, 0), ExpiresAt: time.Unix(exp, 0),
				}
				return cmp.Diff(want, c)
			},
		},
		{name: "expired 30s ago, within default skew", claim: map[string]any{"exp": now.Add(-30 * time.Second).Unix()}},
		{name: "nbf 30s ahead, within default skew", claim: map[string]any{"nbf": now.Add(30 * time.Second).Unix()}},
		{name: "audience in a list", claim: map[string]any{"aud": []string{"other", azAudience}}},
		{name: "fractional exp", claim: map[string]any{"exp": float64(exp) + 0.5}},
		{name: "no nbf and no iat", claim: map[string]any{"nbf": nil, "iat": nil}},
		{
			name:  "oid only",
			claim: map[string]any{"sub": nil},
			want: func(c *identity.AzureClaims) string {
				if c.ObjectID != "oid-1" || c.Subject != "" {
					return "want oid only, got " + c.ObjectID + "/" + c.Subject
				}
				return ""
			},
		},
		{name: "sub only", claim: map[string]any{"oid": nil}},
	}
	for _, mode := range []struct {
		name      string
		discovery bool
	}{{"discovery", true}, {"jwks url", false}} {
		t.Run(mode.name, func(t *testing.T) {
			v := azVerifier(iss, mode.discovery, nil)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tok := iss.Token(t, azClaims(tc.claim))
					c, err := v.Verify(context.Background(), tok)
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if tc.want != nil {
						if diff := tc.want(c); diff != "" {
							t.Errorf("claims (-want +got):\n%s", diff)
						}
					}
				})
			}
		})
	}
}

func TestAzureVerifierRejects(t *testing.T) {
	iss := oidctest.New(t)
	shared := azVerifier(iss, false, nil)
	now := time.Now()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	currentKid := func(t *testing.T) string {
		h := strings.Split(iss.Token(t, azClaims(nil)), ".")[0]
		b, _ := base64.RawURLEncoding.DecodeString(h)
		var hdr struct{ Kid string }
		if err := json.Unmarshal(b, &hdr); err != nil {
			t.Fatal(err)
		}
		return hdr.Kid
	}

	cases := []struct {
		name   string
		token  func(t *testing.T) string
		cfg    func(*identity.AzureConfig) // nil: the shared verifier
		reason string
	}{
		{
			name: "alg none (unsigned)",
			token: func(t *testing.T) string {
				s, err := jwt.NewWithClaims(jwt.SigningMethodNone, iss.Claims(azClaims(nil))).SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			reason: "unsupported signing algorithm",
		},
		{
			name: "RS256 header with empty signature",
			token: func(t *testing.T) string {
				parts := strings.Split(iss.Token(t, azClaims(nil)), ".")
				return parts[0] + "." + parts[1] + "."
			},
			reason: "unsigned token",
		},
		{
			name: "HS256 with the public key PEM as HMAC secret",
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, iss.Claims(azClaims(nil)))
				tok.Header["kid"] = currentKid(t)
				s, err := tok.SignedString(iss.PublicKeyPEM())
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			reason: "unsupported signing algorithm",
		},
		{
			name: "RS384",
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodRS384, iss.Claims(azClaims(nil)))
				tok.Header["kid"] = "not-published"
				s, err := tok.SignedString(otherKey)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			reason: "unsupported signing algorithm",
		},
		{
			name: "expired beyond skew",
			token: func(t *testing.T) string {
				return iss.Token(t, azClaims(map[string]any{"exp": now.Add(-3 * time.Minute).Unix()}))
			},
			reason: "expired",
		},
		{
			name: "nbf beyond skew",
			token: func(t *testing.T) string {
				return iss.Token(t, azClaims(map[string]any{"nbf": now.Add(3 * time.Minute).Unix()}))
			},
			reason: "not yet valid",
		},
		{
			name: "expired 30s ago with 10s skew",
			token: func(t *testing.T) string {
				return iss.Token(t, azClaims(map[string]any{"exp": now.Add(-30 * time.Second).Unix()}))
			},
			cfg:    func(c *identity.AzureConfig) { c.ClockSkew = 10 * time.Second },
			reason: "expired",
		},
		{
			name:   "injected clock two hours ahead",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(nil)) },
			cfg:    func(c *identity.AzureConfig) { c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } },
			reason: "expired",
		},
		{
			name: "wrong issuer",
			token: func(t *testing.T) string {
				return iss.Token(t, azClaims(map[string]any{"iss": "https://login.microsoftonline.com/other/v2.0"}))
			},
			reason: "wrong issuer",
		},
		{
			name:   "wrong audience",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(map[string]any{"aud": "api://someone-else"})) },
			reason: "wrong audience",
		},
		{
			name:   "no audience",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(map[string]any{"aud": nil})) },
			reason: "wrong audience",
		},
		{
			name:   "no exp",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(map[string]any{"exp": nil})) },
			reason: "missing exp",
		},
		{
			name:   "exp not a number",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(map[string]any{"exp": "tomorrow"})) },
			reason: "malformed claims",
		},
		{
			name:   "unknown kid (key not published)",
			token:  func(t *testing.T) string { return iss.TokenWithKey(t, otherKey, "not-published", azClaims(nil)) },
			reason: "bad signature or unknown key",
		},
		{
			name:   "published kid, other key",
			token:  func(t *testing.T) string { return iss.TokenWithKey(t, otherKey, currentKid(t), azClaims(nil)) },
			reason: "bad signature or unknown key",
		},
		{
			name:   "no kid, other key",
			token:  func(t *testing.T) string { return iss.TokenWithKey(t, otherKey, "", azClaims(nil)) },
			reason: "bad signature or unknown key",
		},
		{
			name: "tampered payload",
			token: func(t *testing.T) string {
				parts := strings.Split(iss.Token(t, azClaims(nil)), ".")
				b, err := base64.RawURLEncoding.DecodeString(parts[1])
				if err != nil {
					t.Fatal(err)
				}
				var c map[string]any
				if err := json.Unmarshal(b, &c); err != nil {
					t.Fatal(err)
				}
				c["roles"] = []string{"Admin"}
				return parts[0] + "." + azSegment(t, c) + "." + parts[2]
			},
			reason: "bad signature or unknown key",
		},
		{
			name:   "garbage",
			token:  func(*testing.T) string { return "this-is-not-a-jwt" },
			reason: "malformed token",
		},
		{
			name:   "three garbage segments",
			token:  func(*testing.T) string { return "a.b.c" },
			reason: "malformed token",
		},
		{
			name: "JWS JSON serialization",
			token: func(t *testing.T) string {
				parts := strings.Split(iss.Token(t, azClaims(nil)), ".")
				return `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`
			},
			reason: "malformed token",
		},
		{
			name:   "empty string",
			token:  func(*testing.T) string { return "" },
			reason: "empty token",
		},
		{
			name: "too large",
			token: func(t *testing.T) string {
				return iss.Token(t, azClaims(map[string]any{"name": strings.Repeat("x", 70<<10)}))
			},
			reason: "token too large",
		},
		{
			name:   "no oid and no sub",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(map[string]any{"oid": nil, "sub": nil})) },
			reason: "missing oid and sub",
		},
		{
			// go-oidc refuses a _claim_names entry without its _claim_sources.
			name: "_claim_names without _claim_sources",
			token: func(t *testing.T) string {
				return iss.Token(t, azClaims(map[string]any{"groups": nil, "_claim_names": map[string]string{"groups": "src1"}}))
			},
			reason: "malformed claims",
		},
		{
			name:   "no audience configured",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(nil)) },
			cfg:    func(c *identity.AzureConfig) { c.Audience = "" },
			reason: "no audience configured",
		},
		{
			name:   "no issuer or tenant configured",
			token:  func(t *testing.T) string { return iss.Token(t, azClaims(nil)) },
			cfg:    func(c *identity.AzureConfig) { c.Issuer, c.TenantID = "", "" },
			reason: "no issuer or tenant configured",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token(t)
			v := shared
			if tc.cfg != nil {
				v = azVerifier(iss, false, tc.cfg)
			}
			c, err := v.Verify(context.Background(), tok)
			if c != nil {
				t.Errorf("Verify returned claims %+v with error %v", c, err)
			}
			azWantRejected(t, err, tc.reason, tok)
		})
	}
}

func TestAzureVerifierDefaultIssuer(t *testing.T) {
	// The default issuer is the tenant's v2.0 issuer; a token from the local
	// issuer (another iss) is refused, with keys fetched from JWKSURL.
	iss := oidctest.New(t)
	v := identity.NewAzureVerifier(identity.AzureConfig{TenantID: azTenant, Audience: azAudience, JWKSURL: iss.JWKSURL()})
	_, err := v.Verify(context.Background(), iss.Token(t, azClaims(nil)))
	azWantRejected(t, err, "wrong issuer", "")
	tok := iss.Token(t, azClaims(map[string]any{"iss": "https://login.microsoftonline.com/" + azTenant + "/v2.0"}))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token with the default issuer: %v", err)
	}
}

func TestAzureVerifierKeyRotation(t *testing.T) {
	iss := oidctest.New(t)
	v := azVerifier(iss, true, nil)
	ctx := context.Background()

	oldTok := iss.Token(t, azClaims(nil))
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old-key token: %v", err)
	}
	if n := iss.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times after the first token, want 1", n)
	}
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old-key token again: %v", err)
	}
	if n := iss.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times for a cached kid, want 1", n)
	}

	iss.RotateKey(t)
	newTok := iss.Token(t, azClaims(nil))
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatalf("new-key token: %v", err)
	}
	if n := iss.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetched %d times after the new kid, want 2 (one refresh)", n)
	}
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old-key token after rotation: %v", err)
	}
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatalf("new-key token again: %v", err)
	}
	if n := iss.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetched %d times after rotation, want 2", n)
	}
}

func TestAzureVerifierGroupsOverage(t *testing.T) {
	iss := oidctest.New(t)
	v := azVerifier(iss, false, nil)
	cases := []struct {
		name   string
		claims map[string]any
		want   bool
	}{
		{"group list", nil, false},
		{
			name: "_claim_names.groups",
			claims: map[string]any{
				"groups":         nil,
				"_claim_names":   map[string]string{"groups": "src1"},
				"_claim_sources": map[string]any{"src1": map[string]string{"endpoint": "https://graph.microsoft.com/v1.0/users/oid-1/getMemberObjects"}},
			},
			want: true,
		},
		{"hasgroups", map[string]any{"groups": nil, "hasgroups": true}, true},
		{"no groups at all", map[string]any{"groups": nil}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), iss.Token(t, azClaims(tc.claims)))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.GroupsOverage != tc.want {
				t.Errorf("GroupsOverage = %v, want %v", c.GroupsOverage, tc.want)
			}
			if tc.want && len(c.Groups) != 0 {
				t.Errorf("Groups = %v, want none", c.Groups)
			}
		})
	}
}

func TestAzureVerifierLazyDiscoveryAndRetry(t *testing.T) {
	t.Run("issuer not listening", func(t *testing.T) {
		iss := oidctest.New(t)
		tok := iss.Token(t, azClaims(map[string]any{"iss": "http://127.0.0.1:1"}))
		v := identity.NewAzureVerifier(identity.AzureConfig{TenantID: azTenant, Audience: azAudience, Issuer: "http://127.0.0.1:1"})
		for range 2 { // the failure is not cached: both calls try and fail
			_, err := v.Verify(context.Background(), tok)
			azWantRejected(t, err, "key discovery failed", tok)
		}
	})

	t.Run("JWKS not listening", func(t *testing.T) {
		iss := oidctest.New(t)
		v := azVerifier(iss, false, func(c *identity.AzureConfig) { c.JWKSURL = "http://127.0.0.1:1/keys" })
		tok := iss.Token(t, azClaims(nil))
		_, err := v.Verify(context.Background(), tok)
		azWantRejected(t, err, "signing keys unavailable", tok)
	})

	t.Run("discovery fails once, then succeeds", func(t *testing.T) {
		iss := oidctest.New(t)
		var requests, fail atomic.Int64
		fail.Store(1)
		var flaky *httptest.Server
		flaky = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if r.URL.Path != "/.well-known/openid-configuration" {
				http.NotFound(w, r)
				return
			}
			if fail.Add(-1) >= 0 {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": flaky.URL, "jwks_uri": iss.JWKSURL()})
		}))
		t.Cleanup(flaky.Close)

		var viaClient atomic.Int64
		client := &http.Client{Timeout: 5 * time.Second, Transport: azCountingTransport{&viaClient}}
		v := identity.NewAzureVerifier(identity.AzureConfig{TenantID: azTenant, Audience: azAudience, Issuer: flaky.URL, HTTPClient: client})
		if n := requests.Load(); n != 0 {
			t.Fatalf("NewAzureVerifier made %d requests, want none", n)
		}
		tok := iss.Token(t, azClaims(map[string]any{"iss": flaky.URL}))
		_, err := v.Verify(context.Background(), tok)
		azWantRejected(t, err, "key discovery failed", tok)
		for range 2 {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("Verify after discovery recovered: %v", err)
			}
		}
		if n := requests.Load(); n != 2 {
			t.Errorf("discovery requested %d times, want 2 (one failure, one success, then cached)", n)
		}
		if n := viaClient.Load(); n != 3 {
			t.Errorf("configured HTTP client made %d requests, want 3 (2 discovery + 1 JWKS)", n)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		iss := oidctest.New(t)
		v := azVerifier(iss, true, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		tok := iss.Token(t, azClaims(nil))
		_, err := v.Verify(ctx, tok)
		azWantRejected(t, err, "", tok)
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("Verify after a cancelled first attempt: %v", err)
		}
	})
}

type azCountingTransport struct{ n *atomic.Int64 }

func (c azCountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestAzureVerifierConcurrentFirstUse(t *testing.T) {
	iss := oidctest.New(t)
	tok := iss.Token(t, azClaims(nil))
	for _, mode := range []struct {
		name      string
		discovery bool
	}{{"discovery", true}, {"jwks url", false}} {
		t.Run(mode.name, func(t *testing.T) {
			v := azVerifier(iss, mode.discovery, nil)
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() {
					c, err := v.Verify(context.Background(), tok)
					if err == nil && c.ObjectID != "oid-1" {
						err = errors.New("wrong oid " + c.ObjectID)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent Verify: %v", err)
				}
			}
		})
	}
}
