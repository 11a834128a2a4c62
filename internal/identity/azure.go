package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// AzureConfig configures verification of Azure AD access tokens.
type AzureConfig struct {
	// TenantID is the directory (tenant) id; it makes the default Issuer.
	TenantID string
	// ClientID is the application (client) id of the hub. It is informational:
	// the aud claim is checked against Audience.
	ClientID string
	// Audience is the required aud claim (the client id for v2 tokens, often
	// the Application ID URI "api://..." for v1 tokens). It must be set.
	Audience string
	// Issuer is the required iss claim and the discovery base URL. Default
	// "https://login.microsoftonline.com/{TenantID}/v2.0". Tokens of the v1
	// endpoint carry "https://sts.windows.net/{TenantID}/" and need this
	// override.
	Issuer string
	// JWKSURL, when set, is where the signing keys are fetched from, without
	// discovery. Otherwise the keys come from the jwks_uri of the issuer's
	// /.well-known/openid-configuration.
	JWKSURL string
	// ClockSkew is the leeway for exp and nbf; default 2 minutes. A negative
	// value means no leeway.
	ClockSkew time.Duration
	// HTTPClient fetches the discovery document and the keys; default a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now (tests inject).
	Now func() time.Time
}

// AzureClaims is what the hub uses from a verified token.
type AzureClaims struct {
	// ObjectID, Subject and TenantID are the oid, sub and tid claims.
	ObjectID, Subject, TenantID string
	// PreferredUsername, UPN, Email and Name are the preferred_username, upn,
	// email and name claims; any of them may be empty.
	PreferredUsername, UPN, Email, Name string
	// Groups is the "groups" claim (group object ids).
	Groups []string
	// Roles is the "roles" claim (app roles assigned to the caller).
	Roles []string
	// GroupsOverage is set when the token carries _claim_names.groups or
	// hasgroups instead of the group list (too many groups to embed).
	GroupsOverage bool
	// IssuedAt and ExpiresAt are the iat and exp claims; IssuedAt is zero
	// when the token has no iat.
	IssuedAt, ExpiresAt time.Time
}

// ErrAzureToken is wrapped by every verification failure.
var ErrAzureToken = errors.New("invalid Azure AD token")

const (
	// DefaultAzureClockSkew is the leeway for exp and nbf when
	// AzureConfig.ClockSkew is zero.
	DefaultAzureClockSkew = 2 * time.Minute
	// maxAzureTokenBytes bounds the size of a token before any parsing; Azure
	// tokens stay far below it even with a full groups claim.
	maxAzureTokenBytes = 64 << 10
	// azureHTTPTimeout is the timeout of the default HTTP client.
	azureHTTPTimeout = 10 * time.Second
)

// AzureVerifier verifies Azure AD RS256 access tokens against the tenant's
// published keys. Signatures are verified by go-oidc; the verifier adds the
// hub's rules (RS256 only, compact form, exp required, exp and nbf with
// ClockSkew, oid or sub required). It is safe for concurrent use and does no
// network I/O until the first Verify.
type AzureVerifier struct {
	cfg      AzureConfig
	issuer   string
	skew     time.Duration
	now      func() time.Time
	client   *http.Client
	ready    atomic.Pointer[oidc.IDTokenVerifier]
	mu       sync.Mutex
	inflight *azureSetup // guarded by mu
}

// azureSetup is one attempt at discovery and key-set creation, shared by the
// callers that arrive while it runs.
type azureSetup struct {
	done     chan struct{}
	verifier *oidc.IDTokenVerifier
	err      error
}

// NewAzureVerifier returns a verifier for cfg. It does no network I/O:
// discovery and key fetching happen on the first Verify, and a failed
// discovery is retried by the next one. Configuration errors (no issuer or
// audience) are reported by Verify.
func NewAzureVerifier(cfg AzureConfig) *AzureVerifier {
	v := &AzureVerifier{cfg: cfg, issuer: cfg.Issuer, skew: cfg.ClockSkew, now: cfg.Now, client: cfg.HTTPClient}
	if v.issuer == "" && cfg.TenantID != "" {
		v.issuer = "https://login.microsoftonline.com/" + cfg.TenantID + "/v2.0"
	}
	switch {
	case v.skew == 0:
		v.skew = DefaultAzureClockSkew
	case v.skew < 0:
		v.skew = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: azureHTTPTimeout}
	}
	return v
}

// azureClaimsJSON is the payload as the hub reads it.
type azureClaimsJSON struct {
	OID               string                     `json:"oid"`
	Sub               string                     `json:"sub"`
	TID               string                     `json:"tid"`
	PreferredUsername string                     `json:"preferred_username"`
	UPN               string                     `json:"upn"`
	Email             string                     `json:"email"`
	Name              string                     `json:"name"`
	Groups            []string                   `json:"groups"`
	Roles             []string                   `json:"roles"`
	ClaimNames        map[string]json.RawMessage `json:"_claim_names"`
	HasGroups         json.RawMessage            `json:"hasgroups"`
	Exp               *json.Number               `json:"exp"`
	Nbf               *json.Number               `json:"nbf"`
	Iat               *json.Number               `json:"iat"`
}

// Verify checks the signature (RS256 only, key chosen by kid; keys are cached
// and re-fetched when a token names an unknown kid), the issuer, that the
// audience contains cfg.Audience, exp (required) and nbf with ClockSkew, and
// that oid or sub is present; it returns the claims. Every failure wraps
// ErrAzureToken and says briefly why; the token itself is never part of the
// message.
func (v *AzureVerifier) Verify(ctx context.Context, raw string) (*AzureClaims, error) {
	if err := precheckAzureToken(raw); err != nil {
		return nil, err
	}
	verifier, err := v.verifier(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, classifyOIDCError(ctx, err)
	}
	var c azureClaimsJSON
	if err := tok.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: malformed claims", ErrAzureToken)
	}

	if c.Exp == nil {
		return nil, fmt.Errorf("%w: missing exp", ErrAzureToken)
	}
	exp, err := numericDate(*c.Exp)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed exp", ErrAzureToken)
	}
	now := v.now()
	if !now.Before(exp.Add(v.skew)) {
		return nil, fmt.Errorf("%w: expired", ErrAzureToken)
	}
	if c.Nbf != nil {
		nbf, err := numericDate(*c.Nbf)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed nbf", ErrAzureToken)
		}
		if now.Add(v.skew).Before(nbf) {
			return nil, fmt.Errorf("%w: not yet valid", ErrAzureToken)
		}
	}
	var iat time.Time
	if c.Iat != nil {
		if iat, err = numericDate(*c.Iat); err != nil {
			return nil, fmt.Errorf("%w: malformed iat", ErrAzureToken)
		}
	}
	if c.OID == "" && c.Sub == "" {
		return nil, fmt.Errorf("%w: missing oid and sub", ErrAzureToken)
	}

	_, namedGroups := c.ClaimNames["groups"]
	hasGroups := strings.EqualFold(strings.Trim(string(c.HasGroups), `"`), "true")
	return &AzureClaims{
		ObjectID:          c.OID,
		Subject:           c.Sub,
		TenantID:          c.TID,
		PreferredUsername: c.PreferredUsername,
		UPN:               c.UPN,
		Email:             c.Email,
		Name:              c.Name,
		Groups:            c.Groups,
		Roles:             c.Roles,
		GroupsOverage:     len(c.Groups) == 0 && (namedGroups || hasGroups),
		IssuedAt:          iat,
		ExpiresAt:         exp,
	}, nil
}

// precheckAzureToken rejects, before any key is looked at, what is not a
// compact JWS of a sane size whose header names RS256. It inspects the
// header only; go-oidc enforces RS256 again and verifies the signature.
func precheckAzureToken(raw string) error {
	switch {
	case raw == "":
		return fmt.Errorf("%w: empty token", ErrAzureToken)
	case len(raw) > maxAzureTokenBytes:
		return fmt.Errorf("%w: token too large", ErrAzureToken)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("%w: malformed token", ErrAzureToken)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("%w: malformed token", ErrAzureToken)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil {
		return fmt.Errorf("%w: malformed token", ErrAzureToken)
	}
	if h.Alg != oidc.RS256 {
		return fmt.Errorf("%w: unsupported signing algorithm", ErrAzureToken)
	}
	if parts[2] == "" {
		return fmt.Errorf("%w: unsigned token", ErrAzureToken)
	}
	return nil
}

// classifyOIDCError turns a go-oidc verification error into a short reason.
// go-oidc exposes no typed errors for these cases, so its messages (pinned
// by the module version; the tests check each reason) are matched.
func classifyOIDCError(ctx context.Context, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "fetching keys"):
		// The cause (JWKS URL, HTTP status) is server-side and helps operators;
		// go-oidc formats it with %v, so only its text survives.
		if ctx.Err() != nil {
			return fmt.Errorf("%w: signing keys unavailable: %w", ErrAzureToken, ctx.Err())
		}
		if _, cause, ok := strings.Cut(msg, "fetching keys "); ok {
			if len(cause) > 200 {
				cause = cause[:200] + "..."
			}
			return fmt.Errorf("%w: signing keys unavailable: %s", ErrAzureToken, cause)
		}
		return fmt.Errorf("%w: signing keys unavailable", ErrAzureToken)
	case strings.Contains(msg, "failed to verify signature"):
		return fmt.Errorf("%w: bad signature or unknown key", ErrAzureToken)
	case strings.Contains(msg, "issued by a different provider"):
		return fmt.Errorf("%w: wrong issuer", ErrAzureToken)
	case strings.Contains(msg, "expected audience"):
		return fmt.Errorf("%w: wrong audience", ErrAzureToken)
	case strings.Contains(msg, "malformed jwt"), strings.Contains(msg, "not signed"), strings.Contains(msg, "multiple signatures"):
		return fmt.Errorf("%w: malformed token", ErrAzureToken)
	case strings.Contains(msg, "unmarshal claims"), strings.Contains(msg, "claim name"), strings.Contains(msg, "source does not exist"):
		return fmt.Errorf("%w: malformed claims", ErrAzureToken)
	}
	return fmt.Errorf("%w: verification failed", ErrAzureToken)
}

// verifier returns the go-oidc verifier, doing discovery and key-set creation
// on first use. Callers arriving during an attempt share its result; a
// failed attempt is not remembered, so the next call tries again.
func (v *AzureVerifier) verifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if iv := v.ready.Load(); iv != nil {
		return iv, nil
	}
	v.mu.Lock()
	if iv := v.ready.Load(); iv != nil {
		v.mu.Unlock()
		return iv, nil
	}
	if s := v.inflight; s != nil {
		v.mu.Unlock()
		select {
		case <-s.done:
			return s.verifier, s.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: key discovery: %w", ErrAzureToken, ctx.Err())
		}
	}
	s := &azureSetup{done: make(chan struct{})}
	v.inflight = s
	v.mu.Unlock()

	s.verifier, s.err = v.setup(ctx)

	v.mu.Lock()
	if s.err == nil {
		v.ready.Store(s.verifier)
	}
	v.inflight = nil
	v.mu.Unlock()
	close(s.done)
	return s.verifier, s.err
}

// setup builds the go-oidc verifier: a remote key set at JWKSURL, or at the
// jwks_uri found by discovery (whose issuer must equal the configured one).
func (v *AzureVerifier) setup(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if v.issuer == "" {
		return nil, fmt.Errorf("%w: no issuer or tenant configured", ErrAzureToken)
	}
	if v.cfg.Audience == "" {
		return nil, fmt.Errorf("%w: no audience configured", ErrAzureToken)
	}
	conf := &oidc.Config{
		ClientID:             v.cfg.Audience,
		SupportedSigningAlgs: []string{oidc.RS256},
		// exp and nbf are checked by Verify with the configured ClockSkew:
		// go-oidc allows no leeway on exp and a fixed 5 minutes on nbf.
		SkipExpiryCheck: true,
		Now:             v.now,
	}
	// The key set fetches in the background with this context; go-oidc uses
	// it only for the HTTP client and ignores its cancellation.
	keyCtx := oidc.ClientContext(context.Background(), v.client)
	if v.cfg.JWKSURL != "" {
		return oidc.NewVerifier(v.issuer, oidc.NewRemoteKeySet(keyCtx, v.cfg.JWKSURL), conf), nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), v.issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: key discovery failed: %w", ErrAzureToken, err)
	}
	return p.VerifierContext(keyCtx, conf), nil
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional).
func numericDate(n json.Number) (time.Time, error) {
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0), nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return time.Time{}, errors.New("bad numeric date")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
