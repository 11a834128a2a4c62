// Package oidctest runs a local OpenID Connect issuer for tests: an httptest
// server with a discovery document and a JWKS, and helpers that sign RS256
// tokens with keys made in the test. It is for tests only.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Issuer is an httptest server that serves /.well-known/openid-configuration
// and a JWKS, and signs RS256 tokens with keys made in the test.
type Issuer struct {
	// URL is the issuer identifier and the base URL of the server.
	URL string

	srv          *httptest.Server
	jwksRequests atomic.Int64

	mu    sync.Mutex
	keys  []signingKey // published keys; the last one signs
	codes map[string]grant
	login LoginOptions
}

// LoginOptions set what the issuer's sign-in page does (it never asks a
// person): who signs in and which faults to inject.
type LoginOptions struct {
	// Claims of the signed-in user, put in both tokens (sub, oid, name, …).
	Claims map[string]any
	// AccessAudience is the aud of the access token (the API).
	AccessAudience string
	// Deny answers the authorization request with error=access_denied.
	Deny bool
	// WrongNonce puts another nonce in the ID token.
	WrongNonce bool
}

// grant is an issued authorization code waiting for its exchange.
type grant struct {
	clientID, redirectURI, challenge, nonce string
	opts                                    LoginOptions
}

// SetLogin configures the sign-in the /authorize endpoint performs.
func (i *Issuer) SetLogin(o LoginOptions) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.login = o
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// New starts an issuer with one RSA-2048 key and stops it in t.Cleanup.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{codes: map[string]grant{}}
	i.addKey(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /keys", i.serveJWKS)
	mux.HandleFunc("GET /authorize", i.serveAuthorize)
	mux.HandleFunc("POST /token", i.serveToken)
	i.srv = httptest.NewServer(mux)
	i.URL = i.srv.URL
	t.Cleanup(i.srv.Close)
	return i
}

// JWKSURL is where the issuer publishes its keys.
func (i *Issuer) JWKSURL() string { return i.URL + "/keys" }

// Token returns an RS256 token signed with the current key and kid. It sets
// iss=i.URL, iat=now, nbf=now and exp=now+1h unless claims sets them; a nil
// value in claims deletes that claim.
func (i *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	return i.TokenWithKey(t, k.priv, k.kid, claims)
}

// TokenWithKey is Token signed with key under kid; the key need not be
// published (kid may even name a published key of another private key).
// An empty kid leaves the header without one.
func (i *Issuer) TokenWithKey(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, i.Claims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("oidctest: sign token: %v", err)
	}
	return s
}

// Claims returns claims with the defaults Token adds (iss, iat, nbf, exp),
// nil values removed.
func (i *Issuer) Claims(claims map[string]any) jwt.MapClaims {
	now := time.Now()
	out := jwt.MapClaims{
		"iss": i.URL,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	maps.Copy(out, claims)
	for k, v := range out {
		if v == nil {
			delete(out, k)
		}
	}
	return out
}

// RotateKey makes a new key the signing key and publishes it alongside the
// old ones; it returns the new kid.
func (i *Issuer) RotateKey(t testing.TB) (kid string) {
	t.Helper()
	return i.addKey(t)
}

// PublicKeyPEM is the current signing key's public key as PEM ("PUBLIC
// KEY"), for the "HS256 signed with the public key" attack.
func (i *Issuer) PublicKeyPEM() []byte {
	i.mu.Lock()
	pub := &i.keys[len(i.keys)-1].priv.PublicKey
	i.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(fmt.Sprintf("oidctest: marshal public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWKSRequests is how many times the JWKS was fetched.
func (i *Issuer) JWKSRequests() int { return int(i.jwksRequests.Load()) }

func (i *Issuer) addKey(t testing.TB) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: generate key: %v", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	kid := fmt.Sprintf("test-key-%d", len(i.keys)+1)
	i.keys = append(i.keys, signingKey{kid: kid, priv: priv})
	return kid
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                i.URL,
		"authorization_endpoint":                i.URL + "/authorize",
		"token_endpoint":                        i.URL + "/token",
		"jwks_uri":                              i.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.jwksRequests.Add(1)
	i.mu.Lock()
	var set jose.JSONWebKeySet
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	i.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// serveAuthorize signs the configured user in at once and redirects back
// with a code (authorization code flow; PKCE S256 is required).
func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" || q.Get("client_id") == "" || q.Get("response_type") != "code" {
		http.Error(w, "invalid authorization request", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	i.mu.Lock()
	opts := i.login
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		back.Set("error", "invalid_request")
		back.Set("error_description", "PKCE S256 is required")
	} else if opts.Deny {
		back.Set("error", "access_denied")
	} else {
		code := rand.Text()
		i.codes[code] = grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), opts: opts}
		back.Set("code", code)
	}
	i.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// serveToken exchanges a code once, checking the client, the redirect URI
// and the PKCE verifier, for an ID token and an access token.
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	clientID := r.PostForm.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		clientID = id
	}
	i.mu.Lock()
	g, ok := i.codes[r.PostForm.Get("code")]
	delete(i.codes, r.PostForm.Get("code"))
	i.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || r.PostForm.Get("grant_type") != "authorization_code" || clientID != g.clientID ||
		r.PostForm.Get("redirect_uri") != g.redirectURI || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	idClaims := map[string]any{"aud": g.clientID, "nonce": g.nonce}
	if g.opts.WrongNonce {
		idClaims["nonce"] = "not-the-nonce"
	}
	accessClaims := map[string]any{"aud": g.opts.AccessAudience}
	for k, v := range g.opts.Claims {
		idClaims[k], accessClaims[k] = v, v
	}
	idToken, err1 := i.sign(idClaims)
	access, err2 := i.sign(accessClaims)
	if err1 != nil || err2 != nil {
		http.Error(w, "sign tokens", http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"access_token": access, "id_token": idToken, "token_type": "Bearer", "expires_in": 3600})
}

// sign signs claims (with the defaults of Claims) with the current key.
func (i *Issuer) sign(claims map[string]any) (string, error) {
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, i.Claims(claims))
	tok.Header["kid"] = k.kid
	return tok.SignedString(k.priv)
}
