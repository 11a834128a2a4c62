package webui

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// safeNext returns next when it is a path on this site, else "/": the login
// page must not become an open redirect.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

type loginView struct {
	Next, Username, Error string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if u.loadSession(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.renderAnon(w, r, http.StatusOK, "login", loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

func (u *UI) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	tr := u.translator(r)
	if !u.csrfOK(r, nil) {
		u.plainError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	v := loginView{Next: safeNext(r.PostFormValue("next")), Username: r.PostFormValue("username")}
	if !u.cfg.LocalLogin {
		v.Error = tr.T("login.local_disabled")
		u.renderAnon(w, r, http.StatusBadRequest, "login", v)
		return
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := u.call(r, "", http.MethodPost, "/auth/token",
		url.Values{"username": {v.Username}, "password": {r.PostFormValue("password")}}, &tok)
	if err != nil {
		ae, ok := asAPIError(err)
		if !ok {
			u.log.ErrorContext(r.Context(), "web login failed", "error", err)
			u.plainError(w, r, http.StatusInternalServerError, "error.internal")
			return
		}
		status := ae.Status
		switch status {
		case http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusBadRequest:
			status, v.Error = http.StatusUnauthorized, tr.T("login.invalid")
		case http.StatusTooManyRequests:
			v.Error = tr.T("login.too_many")
			if ra := ae.Header.Get("Retry-After"); ra != "" {
				w.Header().Set("Retry-After", ra)
			}
		default:
			v.Error = tr.API(ae.Detail)
		}
		u.renderAnon(w, r, status, "login", v)
		return
	}
	s := &session{Token: tok.AccessToken, CSRF: randomToken(), Expires: tokenExpiry(tok.AccessToken, time.Now().Add(time.Hour)).Unix()}
	if err := u.saveSession(w, r, s); err != nil {
		u.log.ErrorContext(r.Context(), "web session", "error", err)
		u.plainError(w, r, http.StatusInternalServerError, "error.internal")
		return
	}
	http.SetCookie(w, u.cookie(r, csrfCookie, "", -1))
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	s := u.loadSession(r)
	if s != nil && !u.csrfOK(r, s) {
		u.plainError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	u.clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// tokenExpiry reads the exp claim of a JWT without verifying it (the API
// verifies the token on every call; this only sets the cookie lifetime).
func tokenExpiry(token string, fallback time.Time) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fallback
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fallback
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == 0 {
		return fallback
	}
	return time.Unix(c.Exp, 0)
}

// MicrosoftConfig enables "Sign in with Microsoft": the authorization code
// flow with PKCE against the Azure AD tenant whose tokens the API accepts.
type MicrosoftConfig struct {
	// Issuer is the tenant's OpenID issuer; its discovery document gives
	// the authorization and token endpoints.
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client (PKCE only)
	// Scopes are requested besides openid/profile/email; the access token
	// for the API comes from them (e.g. "api://automation-hub/.default").
	Scopes []string
	// RedirectURL is the callback address registered in Azure AD; empty
	// derives it from the request (scheme://host/auth/callback).
	RedirectURL string
	// HTTPClient reaches the issuer (nil: a client with a 15 s timeout).
	HTTPClient *http.Client
}

type microsoft struct {
	cfg MicrosoftConfig

	mu       sync.Mutex
	provider *oidc.Provider
}

func newMicrosoft(cfg MicrosoftConfig) *microsoft {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return &microsoft{cfg: cfg}
}

// discover fetches the issuer's discovery document once it succeeds.
func (m *microsoft) discover(ctx context.Context) (*oidc.Provider, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.provider != nil {
		return m.provider, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, m.cfg.HTTPClient), m.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("webui: discover %s: %w", m.cfg.Issuer, err)
	}
	m.provider = p
	return p, nil
}

func (m *microsoft) oauthConfig(r *http.Request, p *oidc.Provider, secure bool) *oauth2.Config {
	redirect := m.cfg.RedirectURL
	if redirect == "" {
		scheme := "http"
		if secure {
			scheme = "https"
		}
		redirect = scheme + "://" + r.Host + "/auth/callback"
	}
	return &oauth2.Config{ClientID: m.cfg.ClientID, ClientSecret: m.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: redirect, Scopes: append([]string{oidc.ScopeOpenID, "profile", "email"}, m.cfg.Scopes...)}
}

// oauthState is kept in a sealed cookie between the redirect and the
// callback.
type oauthState struct {
	State, Nonce, Verifier, Next string
	Expires                      int64
}

func (u *UI) microsoftStart(w http.ResponseWriter, r *http.Request) {
	if u.ms == nil {
		u.plainError(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	p, err := u.ms.discover(r.Context())
	if err != nil {
		u.log.ErrorContext(r.Context(), "Microsoft sign-in unavailable", "error", err)
		u.renderAnon(w, r, http.StatusBadGateway, "login", loginView{Next: "/", Error: u.translator(r).T("login.microsoft_unavailable")})
		return
	}
	st := oauthState{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: time.Now().Add(10 * time.Minute).Unix()}
	sealed, err := u.oauth.seal(st)
	if err != nil {
		u.plainError(w, r, http.StatusInternalServerError, "error.internal")
		return
	}
	http.SetCookie(w, u.cookie(r, oauthCookie, sealed, 10*time.Minute))
	target := u.ms.oauthConfig(r, p, u.secure(r)).AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce))
	http.Redirect(w, r, target, http.StatusFound)
}

func (u *UI) microsoftCallback(w http.ResponseWriter, r *http.Request) {
	tr := u.translator(r)
	fail := func(status int, key string, err error) {
		if err != nil {
			u.log.WarnContext(r.Context(), "Microsoft sign-in refused", "error", err)
		}
		u.renderAnon(w, r, status, "login", loginView{Next: "/", Error: tr.T(key)})
	}
	if u.ms == nil {
		u.plainError(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	c, err := r.Cookie(oauthCookie)
	var st oauthState
	if err != nil || u.oauth.open(c.Value, &st) != nil || time.Now().Unix() > st.Expires {
		fail(http.StatusBadRequest, "login.microsoft_expired", errors.New("no or expired sign-in state"))
		return
	}
	http.SetCookie(w, u.cookie(r, oauthCookie, "", -1))
	q := r.URL.Query()
	if !tokensEqual(q.Get("state"), st.State) {
		fail(http.StatusBadRequest, "login.microsoft_expired", errors.New("state mismatch"))
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusUnauthorized, "login.microsoft_denied", fmt.Errorf("issuer answered %s: %s", e, q.Get("error_description")))
		return
	}
	p, err := u.ms.discover(r.Context())
	if err != nil {
		fail(http.StatusBadGateway, "login.microsoft_unavailable", err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), u.ms.cfg.HTTPClient)
	tok, err := u.ms.oauthConfig(r, p, u.secure(r)).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		fail(http.StatusUnauthorized, "login.microsoft_denied", fmt.Errorf("code exchange: %w", err))
		return
	}
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		idt, err := p.Verifier(&oidc.Config{ClientID: u.ms.cfg.ClientID}).Verify(ctx, raw)
		if err != nil {
			fail(http.StatusUnauthorized, "login.microsoft_denied", fmt.Errorf("id token: %w", err))
			return
		}
		if !tokensEqual(idt.Nonce, st.Nonce) {
			fail(http.StatusUnauthorized, "login.microsoft_denied", errors.New("id token nonce mismatch"))
			return
		}
	} else {
		fail(http.StatusUnauthorized, "login.microsoft_denied", errors.New("no id token in the token response"))
		return
	}
	// The access token is what the API accepts; asking the API who it
	// belongs to also provisions the hub account on first sign-in.
	var m me
	if err := u.call(r, tok.AccessToken, http.MethodGet, "/auth/me", nil, &m); err != nil {
		fail(http.StatusForbidden, "login.microsoft_no_access", fmt.Errorf("the API refused the access token: %w", err))
		return
	}
	exp := tok.Expiry
	if exp.IsZero() {
		exp = tokenExpiry(tok.AccessToken, time.Now().Add(time.Hour))
	}
	if err := u.saveSession(w, r, &session{Token: tok.AccessToken, CSRF: randomToken(), Expires: exp.Unix()}); err != nil {
		fail(http.StatusInternalServerError, "error.internal", err)
		return
	}
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}
