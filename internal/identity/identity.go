// Package identity answers "who is calling?": local users with passwords and
// HS256 access tokens, Azure AD access tokens verified against the tenant's
// keys, the principal (role + grants) of every request, and the management of
// users and grants. The access rules themselves live in internal/rbac.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"automationhub/internal/audit"
	"automationhub/internal/hub"
	"automationhub/internal/rbac"
)

// Store is the persistence identity needs. Methods return hub errors with
// the kinds documented on the sqlstore implementation (ENotFound, EConflict).
type Store interface {
	CreateUser(ctx context.Context, u *hub.User, grants []hub.Grant, ev *hub.AuditEvent) error
	UserByID(ctx context.Context, id string) (*hub.User, error)
	// UserWithGrants and AzureUserWithGrants read a user and its grants
	// in one query (ENotFound when absent): authenticating a request costs
	// one indexed read.
	UserWithGrants(ctx context.Context, id string) (*hub.User, []hub.Grant, error)
	AzureUserWithGrants(ctx context.Context, oid string) (*hub.User, []hub.Grant, error)
	UsersByIDs(ctx context.Context, ids []string) ([]hub.User, error)
	UserByLogin(ctx context.Context, login string) (*hub.User, error)
	UserByAzureObjectID(ctx context.Context, oid string) (*hub.User, error)
	UsernameTaken(ctx context.Context, username string) (bool, error)
	EmailTaken(ctx context.Context, email string) (bool, error)
	ListUsers(ctx context.Context, page hub.Page) ([]hub.User, int, error)
	CountUsers(ctx context.Context) (int, error)
	UpdateUser(ctx context.Context, id string, ch hub.UserUpdate, ev *hub.AuditEvent) (*hub.User, error)
	GrantsOfUser(ctx context.Context, userID string) ([]hub.Grant, error)
	CreateGrant(ctx context.Context, g *hub.Grant, ev *hub.AuditEvent) error
	DeleteGrant(ctx context.Context, userID string, grantID int64, ev *hub.AuditEvent) (*hub.Grant, error)
	RobotExists(ctx context.Context, id string) (bool, error)
	RecordAudit(ctx context.Context, ev *hub.AuditEvent) error
	RobotByID(ctx context.Context, id string) (*hub.Robot, error)
	// TokenWithUser reads an API token by hash with its user, the user's
	// grants and its robot's tags in one query (ENotFound when absent).
	TokenWithUser(ctx context.Context, hash string) (*hub.APIToken, *hub.User, []hub.Grant, error)
	TouchToken(ctx context.Context, id string, now, since time.Time) error
	CreateToken(ctx context.Context, t *hub.APIToken, ev *hub.AuditEvent) error
	Tokens(ctx context.Context, userID string, limit int) ([]hub.APIToken, error)
	TokenByID(ctx context.Context, id string) (*hub.APIToken, error)
	DeleteToken(ctx context.Context, id string, ev *hub.AuditEvent) error
	ServiceAccounts(ctx context.Context) ([]hub.User, error)
	ListAudit(ctx context.Context, f hub.AuditFilter) ([]hub.AuditEvent, hub.ListInfo, error)
}

// TokenVerifier verifies Azure AD access tokens (AzureVerifier in production).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*AzureClaims, error)
}

// Auth modes.
const (
	ModeHybrid = "hybrid"
	ModeLocal  = "local"
	ModeAzure  = "azure"
)

// Config tunes the service.
type Config struct {
	SecretKey  string
	TokenTTL   time.Duration
	AuthMode   string // ModeHybrid, ModeLocal or ModeAzure
	AllowLocal bool
	// Azure verifies tenant tokens; nil when Azure AD is not configured.
	Azure TokenVerifier
	// AzureGroups maps a role to the group object ids that confer it.
	AzureGroups map[hub.Role][]string
	// AzureDefaultRole is the role of a tenant user matched by no group or
	// app role (RoleNone: nothing).
	AzureDefaultRole hub.Role
	AutoProvision    bool
	// BcryptCost of new hashes (default DefaultBcryptCost).
	BcryptCost int
	// LoginFailures within LoginWindow per client IP and per user name
	// before login answers 429 (defaults 10 per minute).
	LoginFailures int
	LoginWindow   time.Duration
	// FailedLoginAudits is how many failed logins per LoginWindow the
	// process writes to the audit trail (default 10 × LoginFailures);
	// attempts beyond it, and those the limiter refuses, are only counted.
	FailedLoginAudits int
	// HashConcurrency bounds how many passwords are hashed or compared at
	// once (default: the number of CPUs); HashWait is how long a request
	// waits for a free slot before it is answered EUnavailable (default 5 s).
	HashConcurrency int
	HashWait        time.Duration
	Clock           hub.Clock
	Logger          *slog.Logger
}

// Service implements authentication and user administration.
type Service struct {
	store  Store
	cfg    Config
	secret []byte
	clock  hub.Clock
	log    *slog.Logger

	ipLimit, userLimit *failureLimiter
	failedLogins       *auditBudget
	hashSlots          *semaphore.Weighted
	hashHook           func()   // called in a hashing slot (tests)
	tokenUses          sync.Map // API token id → when this process last recorded its use

	dummyOnce sync.Once
	dummyHash string
}

// New returns a Service over store.
func New(store Store, cfg Config) *Service {
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = DefaultBcryptCost
	}
	if cfg.LoginFailures == 0 {
		cfg.LoginFailures = 10
	}
	if cfg.LoginWindow == 0 {
		cfg.LoginWindow = time.Minute
	}
	if cfg.FailedLoginAudits == 0 {
		cfg.FailedLoginAudits = 10 * cfg.LoginFailures
	}
	if cfg.HashConcurrency <= 0 {
		cfg.HashConcurrency = runtime.NumCPU()
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = 5 * time.Second
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.AuthMode == "" {
		cfg.AuthMode = ModeHybrid
	}
	if cfg.Clock == nil {
		cfg.Clock = hub.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AzureDefaultRole == "" {
		cfg.AzureDefaultRole = hub.RoleViewer
	}
	return &Service{
		store: store, cfg: cfg, secret: []byte(cfg.SecretKey), clock: cfg.Clock, log: cfg.Logger,
		ipLimit:      newFailureLimiter(cfg.LoginFailures, cfg.LoginWindow),
		userLimit:    newFailureLimiter(cfg.LoginFailures, cfg.LoginWindow),
		failedLogins: &auditBudget{limit: cfg.FailedLoginAudits, window: cfg.LoginWindow},
		hashSlots:    semaphore.NewWeighted(int64(cfg.HashConcurrency)),
	}
}

// Messages of the previous backend that clients display.
const (
	msgNotAuthenticated  = "Not authenticated"
	msgInvalidToken      = "Token is invalid or unsupported."
	msgInvalidLocalToken = "Invalid local user token."
	msgInvalidAzureToken = "Invalid Azure AD token."
	msgLocalDisabled     = "Local authentication is disabled."
	msgAzureInactive     = "Azure AD user is inactive in Automation Hub."
	msgBadCredentials    = "Invalid username or password."
	msgInactiveUser      = "Inactive user."
	msgTooManyAttempts   = "Too many failed login attempts. Try again later."
	// MsgForbidden is the answer to a caller without the needed permission.
	MsgForbidden = "Permissao insuficiente."
)

func (s *Service) localAllowed() bool { return s.cfg.AllowLocal && s.cfg.AuthMode != ModeAzure }
func (s *Service) azureAllowed() bool { return s.cfg.Azure != nil && s.cfg.AuthMode != ModeLocal }

// Authenticate turns a bearer token into the caller's principal. Errors are
// EUnauthorized with the previous backend's messages, or EForbidden for an
// inactive Azure user.
func (s *Service) Authenticate(ctx context.Context, raw, clientIP string) (*hub.Principal, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, hub.Errorf(hub.EUnauthorized, msgNotAuthenticated)
	}
	if hub.IsAPIToken(raw) {
		return s.tokenPrincipal(ctx, raw, clientIP)
	}
	switch tokenAlg(raw) {
	case "HS256":
		if !s.localAllowed() {
			break
		}
		claims, err := parseToken(s.secret, raw, s.clock.Now)
		if err != nil {
			break
		}
		return s.localPrincipal(ctx, claims, clientIP)
	case "RS256":
		if !s.azureAllowed() {
			break
		}
		claims, err := s.cfg.Azure.Verify(ctx, raw)
		if err != nil {
			s.log.DebugContext(ctx, "Azure AD token rejected", "reason", err.Error())
			return nil, hub.Errorf(hub.EUnauthorized, msgInvalidAzureToken)
		}
		return s.azurePrincipal(ctx, claims, clientIP)
	}
	if s.cfg.AuthMode != ModeAzure && !s.cfg.AllowLocal && !s.azureAllowed() {
		return nil, hub.Errorf(hub.EUnauthorized, msgLocalDisabled)
	}
	return nil, hub.Errorf(hub.EUnauthorized, msgInvalidToken)
}

func (s *Service) localPrincipal(ctx context.Context, c *localClaims, clientIP string) (*hub.Principal, error) {
	u, grants, err := s.store.UserWithGrants(ctx, c.Subject)
	if hub.ErrorKind(err) == hub.ENotFound {
		return nil, hub.Errorf(hub.EUnauthorized, msgInvalidLocalToken)
	}
	if err != nil {
		return nil, err
	}
	if !u.IsActive || u.TokenGeneration != c.Generation {
		return nil, hub.Errorf(hub.EUnauthorized, msgInvalidLocalToken)
	}
	role := u.Role
	if u.IsSuperuser {
		role = hub.RoleAdmin
	}
	return &hub.Principal{User: u, Subject: u.ID, Role: role, AuthSource: hub.AuthSourceLocal, Grants: grants, ClientIP: clientIP}, nil
}

// azureRole is the role a tenant token confers by itself: the highest of its
// group memberships and app roles, else the configured default.
func (s *Service) azureRole(c *AzureClaims) hub.Role {
	best := hub.Role("")
	raise := func(r hub.Role) {
		if r.Rank() > best.Rank() {
			best = r
		}
	}
	for role, ids := range s.cfg.AzureGroups {
		for _, g := range c.Groups {
			if slices.Contains(ids, g) {
				raise(role)
			}
		}
	}
	for _, r := range c.Roles {
		for _, known := range []hub.Role{hub.RoleViewer, hub.RoleOperator, hub.RoleMaintainer, hub.RoleAdmin} {
			if strings.EqualFold(r, string(known)) {
				raise(known)
			}
		}
	}
	if best == "" {
		return s.cfg.AzureDefaultRole
	}
	return best
}

func (s *Service) azurePrincipal(ctx context.Context, c *AzureClaims, clientIP string) (*hub.Principal, error) {
	oid := c.ObjectID
	if oid == "" {
		oid = c.Subject
	}
	if c.GroupsOverage {
		s.log.WarnContext(ctx, "Azure AD token has too many groups to list them (groups overage); group roles not applied", "oid", oid)
	}
	role := s.azureRole(c)
	u, grants, err := s.store.AzureUserWithGrants(ctx, oid)
	switch {
	case hub.ErrorKind(err) == hub.ENotFound && s.cfg.AutoProvision:
		u, err = s.provisionAzureUser(ctx, c, oid, clientIP)
		if err != nil {
			return nil, err
		}
	case hub.ErrorKind(err) == hub.ENotFound:
		return &hub.Principal{Subject: oid, Role: role, AuthSource: hub.AuthSourceAzure, ClientIP: clientIP}, nil
	case err != nil:
		return nil, err
	}
	if !u.IsActive {
		return nil, hub.Errorf(hub.EForbidden, msgAzureInactive)
	}
	if u.Role.Rank() > role.Rank() {
		role = u.Role // an administrator raised this user in the hub
	}
	return &hub.Principal{User: u, Subject: oid, Role: role, AuthSource: hub.AuthSourceAzure, Grants: grants, ClientIP: clientIP}, nil
}

// provisionAzureUser creates the hub account of a tenant user on first use.
// Name or e-mail collisions with existing accounts are resolved (suffix, no
// e-mail) instead of failing; a concurrent first request wins the race.
func (s *Service) provisionAzureUser(ctx context.Context, c *AzureClaims, oid, clientIP string) (*hub.User, error) {
	username := firstNonEmpty(c.PreferredUsername, c.UPN, "azure-"+oid)
	username = cut(username, 128)
	if taken, err := s.store.UsernameTaken(ctx, username); err != nil {
		return nil, err
	} else if taken {
		username = cut(username, 110) + "-" + cut(oid, 8)
	}
	var email *string
	if e := cut(firstNonEmpty(c.Email, c.PreferredUsername), 255); strings.Contains(e, "@") {
		if taken, err := s.store.EmailTaken(ctx, e); err != nil {
			return nil, err
		} else if !taken {
			email = &e
		}
	}
	fullName := cut(firstNonEmpty(c.Name, username), 255)
	hash, err := s.hashPassword(ctx, randomSecret(32))
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	u := &hub.User{
		ID: newID(), Username: username, FullName: &fullName, Email: email, HashedPassword: hash,
		IsActive: true, Role: hub.RoleNone, AuthSource: hub.AuthSourceAzure, AzureObjectID: &oid,
		CreatedAt: now, UpdatedAt: now,
	}
	actor := &hub.Principal{Subject: oid, ClientIP: clientIP}
	ev := audit.Event(actor, "user.provisioned", "user", u.ID, map[string]any{
		"user_id": u.ID, "username": u.Username, "azure_object_id": oid,
	}, now)
	err = s.store.CreateUser(ctx, u, nil, ev)
	if hub.ErrorKind(err) == hub.EConflict {
		// Another request provisioned the same tenant user first.
		return s.store.UserByAzureObjectID(ctx, oid)
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "provisioned Azure AD user", "user_id", u.ID, "username", u.Username)
	return u, nil
}

// Login checks a user name (or e-mail) and password and returns an access
// token. Failures are EInvalid with one message whether or not the user
// exists, and take the same time either way; too many failures per client IP
// or per name are ETooManyRequests.
//
// Each attempt takes its slot in the limiter before the password is
// checked, so concurrent attempts cannot overrun it: at most LoginFailures
// attempts per address and per name are checked in a window, the others
// are refused at once. The check itself waits for a hashing slot
// (HashConcurrency, HashWait: EUnavailable when none frees up in time).
//
// Refused logins are audited (auth.login_failed: the name tried, the reason
// and the client address, never the password). The trail cannot be flooded:
// the limiter lets each address and each name fail at most LoginFailures
// times per window, and the process writes at most FailedLoginAudits
// failures per window; attempts refused by the limiter (429) or beyond that
// ceiling are counted, not written one by one, and their number is recorded
// as unrecorded_attempts on the next failure that is written.
func (s *Service) Login(ctx context.Context, login, password, clientIP string) (string, error) {
	if !s.localAllowed() {
		return "", hub.Errorf(hub.EForbidden, msgLocalDisabled)
	}
	now := s.clock.Now()
	att, err := s.reserveAttempt(clientIP, strings.ToLower(strings.TrimSpace(login)), now)
	if err != nil {
		s.failedLogins.skip()
		return "", err
	}
	defer att.finish()
	u, err := s.store.UserByLogin(ctx, strings.TrimSpace(login))
	if err != nil && hub.ErrorKind(err) != hub.ENotFound {
		return "", err
	}
	var match bool
	err = s.withHashSlot(ctx, func() {
		hash := s.dummy()
		if u != nil {
			hash = u.HashedPassword
		}
		match = CheckPassword(hash, password) && u != nil
	})
	if err != nil {
		return "", err
	}
	if match && u.ServiceAccount {
		match = false // service accounts authenticate with API tokens only
	}
	if !match {
		att.failed()
		s.auditFailedLogin(ctx, u, login, clientIP, "invalid_credentials", now)
		return "", hub.Errorf(hub.EInvalid, msgBadCredentials)
	}
	if !u.IsActive {
		s.auditFailedLogin(ctx, u, login, clientIP, "inactive_user", now)
		return "", hub.Errorf(hub.EForbidden, msgInactiveUser)
	}
	att.succeeded()
	token, err := issueToken(s.secret, u.ID, u.TokenGeneration, now, s.cfg.TokenTTL)
	if err != nil {
		return "", err
	}
	actor := &hub.Principal{User: u, Subject: u.ID, ClientIP: clientIP}
	if err := s.store.RecordAudit(ctx, audit.Event(actor, "auth.local_login", "user", u.ID, map[string]any{"username": u.Username}, now)); err != nil {
		return "", err
	}
	return token, nil
}

// dummy returns a hash to compare against when the user does not exist, so
// that both paths cost one bcrypt comparison at the same cost.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, err := HashPassword(randomSecret(16), s.cfg.BcryptCost)
		if err != nil {
			panic(err) // bcrypt fails only for invalid costs, which New prevents
		}
		s.dummyHash = h
	})
	return s.dummyHash
}

// IssueToken returns an access token for a user (tests and tools).
func (s *Service) IssueToken(u *hub.User) (string, error) {
	return issueToken(s.secret, u.ID, u.TokenGeneration, s.clock.Now(), s.cfg.TokenTTL)
}

// requireAdmin returns EForbidden unless p may manage users.
func requireAdmin(p *hub.Principal) error {
	if !rbac.Allowed(p, hub.PermAdminManage, nil) {
		return hub.Errorf(hub.EForbidden, MsgForbidden)
	}
	return nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
