package webui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Cookie names. The session cookie may be split into numbered parts when a
// large Azure AD token does not fit one cookie.
const (
	sessionCookie = "hub_session"
	csrfCookie    = "hub_csrf"
	langCookie    = "hub_lang"
	oauthCookie   = "hub_oauth"
	maxCookieLen  = 3800
	maxParts      = 4
)

// session is what a browser holds, sealed (AES-256-GCM) in its cookie: the
// bearer token the UI presents to the API on the user's behalf, and the
// CSRF token its forms must echo.
type session struct {
	Token   string `json:"t"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"` // unix seconds
}

// sealer encrypts and authenticates cookie values with a key derived from
// the hub's secret key; purpose separates keys of different cookies.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret, purpose string) (*sealer, error) {
	if len(secret) < 16 {
		return nil, errors.New("webui: the secret key is too short")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "automation-hub web "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("webui: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webui: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webui: cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, nil)), nil
}

func (s *sealer) open(text string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return errors.New("webui: malformed sealed value")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return errors.New("webui: sealed value does not authenticate")
	}
	return json.Unmarshal(plain, v)
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokensEqual compares secrets in constant time.
func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookie builds a cookie with the UI's attributes: HttpOnly, SameSite=Lax,
// Secure when the page is served over TLS.
func (u *UI) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: u.secure(r)}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// secure reports whether cookies must be Secure: TLS on this hop, or a
// public URL that is https (a TLS-terminating proxy in front).
func (u *UI) secure(r *http.Request) bool {
	return r.TLS != nil || u.cfg.PublicHTTPS
}

// loadSession returns the browser's session, or nil when there is none or it
// expired or was tampered with.
func (u *UI) loadSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	value := c.Value
	for i := 1; i < maxParts; i++ {
		part, err := r.Cookie(sessionCookie + "." + strconv.Itoa(i))
		if err != nil {
			break
		}
		value += part.Value
	}
	var s session
	if u.sessions.open(value, &s) != nil || s.Token == "" || time.Now().Unix() >= s.Expires {
		return nil
	}
	return &s
}

// saveSession seals s into the session cookie (split if large).
func (u *UI) saveSession(w http.ResponseWriter, r *http.Request, s *session) error {
	value, err := u.sessions.seal(s)
	if err != nil {
		return err
	}
	if len(value) > maxCookieLen*maxParts {
		return errors.New("webui: the access token is too large for a browser session")
	}
	ttl := time.Until(time.Unix(s.Expires, 0))
	for i := 0; i < maxParts; i++ {
		name := sessionCookie
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		if value == "" {
			if _, err := r.Cookie(name); err == nil {
				http.SetCookie(w, u.cookie(r, name, "", -1))
			}
			continue
		}
		chunk := value[:min(len(value), maxCookieLen)]
		value = value[len(chunk):]
		http.SetCookie(w, u.cookie(r, name, chunk, ttl))
	}
	return nil
}

// clearSession removes every part of the session cookie.
func (u *UI) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, u.cookie(r, sessionCookie, "", -1))
	for i := 1; i < maxParts; i++ {
		name := sessionCookie + "." + strconv.Itoa(i)
		if _, err := r.Cookie(name); err == nil {
			http.SetCookie(w, u.cookie(r, name, "", -1))
		}
	}
}

// anonCSRF returns the CSRF token of a browser without a session (login
// page), setting the double-submit cookie when it has none.
func (u *UI) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, u.cookie(r, csrfCookie, t, 0))
	return t
}

// csrfOK checks the token a state-changing request carries (form field
// "csrf" or header X-CSRF-Token) against the session's, or — without a
// session — against the double-submit cookie.
func (u *UI) csrfOK(r *http.Request, s *session) bool {
	sent := r.Header.Get("X-CSRF-Token")
	if sent == "" {
		sent = r.PostFormValue("csrf")
	}
	if s != nil {
		return tokensEqual(sent, s.CSRF)
	}
	c, err := r.Cookie(csrfCookie)
	return err == nil && tokensEqual(sent, c.Value)
}
