package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"automationhub/internal/agents"
	"automationhub/internal/alert"
	"automationhub/internal/archive"
	"automationhub/internal/blob"
	"automationhub/internal/bus/membus"
	"automationhub/internal/config"
	"automationhub/internal/httpapi"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
	"automationhub/internal/identity"
	"automationhub/internal/keyring"
	"automationhub/internal/pools"
	"automationhub/internal/portal"
	"automationhub/internal/registry"
	"automationhub/internal/robotenv"
	"automationhub/internal/runs"
	"automationhub/internal/runstate"
	"automationhub/internal/schedule"
	"automationhub/internal/sqlstore"
	"automationhub/internal/stats"
)

// alertService is the alert service of a test server (webhook secrets
// from a fixed key).
func alertService(db *sqlstore.DB) *alert.Service {
	s := alert.New(db, nil)
	s.HubKey = strings.Repeat("s", 40)
	return s
}

// Who may call each route. Every registered route must have an entry: a new
// route without one fails TestRBACMatrix.
const (
	public  = "public"
	anyAuth = "any"
	// wsRoute is the WebSocket: it authenticates after the upgrade (close
	// codes), covered by TestLogStream instead of status codes.
	wsRoute = "websocket"
	// deployRoute authenticates CI (DEPLOY_TOKEN or an API token), covered
	// by TestDeployPublish.
	deployRoute = "deploy"
	// agentRoute authenticates a remote agent's own credential, covered
	// by TestAgentProtocolAccess (cmd/hub) and TestAgentRoutesRefuseUsers.
	agentRoute = "agent"
	// sessionOnly after a requirement: callers signed in as a user only,
	// never with an API token (token management, passwords).
	sessionOnly = " session"
)

var routeAccess = map[string]string{
	"GET /api/v1/health":                       public,
	"GET /healthz":                             public,
	"GET /readyz":                              public,
	"GET /metrics":                             public,
	"GET /openapi.json":                        public,
	"GET /docs":                                public,
	"GET /docs/{asset}":                        public,
	"POST /api/v1/auth/token":                  public,
	"GET /api/v1/auth/me":                      anyAuth,
	"POST /api/v1/auth/password":               anyAuth + sessionOnly,
	"GET /api/v1/users/directory":              anyAuth,
	"POST /api/v1/users":                       "admin.manage",
	"GET /api/v1/users":                        "admin.manage",
	"PATCH /api/v1/users/{user_id}":            "admin.manage",
	"GET /api/v1/users/{user_id}/permissions":  "admin.manage",
	"POST /api/v1/users/{user_id}/permissions": "admin.manage",
	"DELETE /api/v1/users/{user_id}/permissions/{permission_id}":       "admin.manage",
	"GET /api/v1/audit-events":                                         "admin.manage",
	"POST /api/v1/robots":                                              "robot.publish",
	"GET /api/v1/robots":                                               "robot.read",
	"GET /api/v1/robots/{robot_id}":                                    "robot.read",
	"PATCH /api/v1/robots/{robot_id}":                                  "robot.publish",
	"PATCH /api/v1/robots/{robot_id}/tags":                             "robot.publish",
	"GET /api/v1/robots/{robot_id}/versions":                           "robot.read",
	"POST /api/v1/robots/{robot_id}/versions/publish":                  "robot.publish",
	"POST /api/v1/robots/{robot_id}/versions/{version_id}/activate":    "robot.publish",
	"GET /api/v1/robots/{robot_id}/versions/{version_id}/artifact":     "robot.publish",
	"POST /api/v1/robots/{robot_id}/versions/{version_id}/prepare":     "robot.publish",
	"GET /api/v1/robots/{robot_id}/versions/{version_id}/environments": "robot.read",
	"POST /api/v1/runs/{robot_id}/execute":                             "robot.run",
	"GET /api/v1/runs":                                                 "run.read",
	"GET /api/v1/runs/{run_id}":                                        "run.read",
	"GET /api/v1/runs/{run_id}/logs":                                   "run.read",
	"POST /api/v1/runs/{run_id}/cancel":                                "robot.run|run.cancel",
	"GET /api/v1/runs/{run_id}/artifacts/{artifact_id}/download":       "artifact.download",
	"GET /api/v1/ws/runs/{run_id}/logs":                                wsRoute,
	"GET /api/v1/workers":                                              "worker.manage",
	"GET /api/v1/ops/status":                                           "worker.manage",
	"POST /api/v1/workers/{worker_id}/pause":                           "worker.manage",
	"POST /api/v1/workers/{worker_id}/resume":                          "worker.manage",
	"POST /api/v1/domains":                                             "service.manage",
	"GET /api/v1/domains":                                              "service.read",
	"GET /api/v1/domains/{domain_id}":                                  "service.read",
	"PATCH /api/v1/domains/{domain_id}":                                "service.manage",
	"DELETE /api/v1/domains/{domain_id}":                               "service.manage",
	"GET /api/v1/domains/{slug}/services":                              "service.read",
	"POST /api/v1/services":                                            "service.manage",
	"POST /api/v1/services/validate":                                   "service.manage",
	"GET /api/v1/services":                                             "service.read",
	"GET /api/v1/services/{service_id}":                                "service.read",
	"PATCH /api/v1/services/{service_id}":                              "service.manage",
	"DELETE /api/v1/services/{service_id}":                             "service.manage",
	"POST /api/v1/services/{service_id}/run":                           "service.run",
	"GET /api/v1/services/{service_id}/runs":                           "run.read",
	"GET /api/v1/robots/{robot_id}/env":                                "robot.read",
	"PUT /api/v1/robots/{robot_id}/env":                                "robot.publish",
	"DELETE /api/v1/robots/{robot_id}/env/{key}":                       "robot.publish",
	"POST /api/v1/deploy/robots/{robot_id}/versions/publish":           deployRoute,
	"POST /api/v1/tokens":                                              anyAuth + sessionOnly,
	"GET /api/v1/tokens":                                               anyAuth + sessionOnly,
	"DELETE /api/v1/tokens/{token_id}":                                 anyAuth + sessionOnly,
	"POST /api/v1/service-accounts":                                    "admin.manage",
	"GET /api/v1/service-accounts":                                     "admin.manage",
	"POST /api/v1/service-accounts/{user_id}/tokens":                   "admin.manage" + sessionOnly,
	"POST /api/v1/robots/{robot_id}/schedule":                          "robot.publish",
	"GET /api/v1/robots/{robot_id}/schedule":                           "robot.read",
	"PATCH /api/v1/robots/{robot_id}/schedule":                         "robot.publish",
	"DELETE /api/v1/robots/{robot_id}/schedule":                        "robot.publish",
	"GET /api/v1/schedules":                                            "robot.read",
	"GET /api/v1/schedules/preview":                                    "robot.read",
	"POST /api/v1/pools":                                               "admin.manage",
	"GET /api/v1/pools":                                                "robot.read",
	"GET /api/v1/pools/{pool_id}":                                      "robot.read",
	"PATCH /api/v1/pools/{pool_id}":                                    "admin.manage",
	"DELETE /api/v1/pools/{pool_id}":                                   "admin.manage",
	"POST /api/v1/robots/{robot_id}/sla":                               "robot.publish",
	"GET /api/v1/robots/{robot_id}/sla":                                "robot.read",
	"PATCH /api/v1/robots/{robot_id}/sla":                              "robot.publish",
	"GET /api/v1/alerts":                                               "run.read",
	"POST /api/v1/alerts/{alert_id}/resolve":                           "admin.manage",
	"GET /api/v1/alerts/channels":                                      "admin.manage",
	"PUT /api/v1/alerts/channels":                                      "admin.manage",
	"GET /api/v1/alerts/webhook-secret":                                "admin.manage",
	"GET /api/v1/notifications":                                        "admin.manage",
	"GET /api/v1/stats/overview":                                       "run.read",
	"GET /api/v1/stats/robots":                                         "run.read",
	"GET /api/v1/stats/services":                                       "run.read",
	"GET /api/v1/stats/daily":                                          "run.read",
	"GET /api/v1/stats/failures":                                       "run.read",
	"POST /api/v1/agents/enrollment-tokens":                            "admin.manage",
	"GET /api/v1/agents/enrollment-tokens":                             "admin.manage",
	"DELETE /api/v1/agents/enrollment-tokens/{token_id}":               "admin.manage",
	"GET /api/v1/agents":                                               "worker.manage",
	"DELETE /api/v1/agents/{agent_id}":                                 "admin.manage",
	"POST /api/v1/agent/enroll":                                        public,
	"POST /api/v1/agent/heartbeat":                                     agentRoute,
	"POST /api/v1/agent/stopped":                                       agentRoute,
	"POST /api/v1/agent/claim":                                         agentRoute,
	"POST /api/v1/agent/leases":                                        agentRoute,
	"POST /api/v1/agent/runs/{run_id}/logs":                            agentRoute,
	"GET /api/v1/agent/runs/{run_id}/logs/last-seq":                    agentRoute,
	"GET /api/v1/agent/runs/{run_id}/cancel":                           agentRoute,
	"PUT /api/v1/agent/runs/{run_id}/pid":                              agentRoute,
	"GET /api/v1/agent/runs/{run_id}/config":                           agentRoute,
	"POST /api/v1/agent/runs/{run_id}/finish":                          agentRoute,
	"POST /api/v1/agent/runs/{run_id}/fail":                            agentRoute,
	"POST /api/v1/agent/runs/{run_id}/artifacts/discard":               agentRoute,
	"GET /api/v1/agent/runs/{run_id}/package/{sha256}":                 agentRoute,
	"PUT /api/v1/agent/runs/{run_id}/artifacts":                        agentRoute,
}

// holds lists what each test principal holds, written out independently of
// the rbac package so the matrix checks it rather than repeats it.
var holds = map[string][]string{
	"anonymous":  nil,
	"viewer":     {"robot.read", "run.read", "artifact.download", "service.read"},
	"operator":   {"robot.read", "run.read", "artifact.download", "service.read", "robot.run", "service.run", "run.cancel"},
	"maintainer": {"robot.read", "run.read", "artifact.download", "service.read", "robot.run", "service.run", "run.cancel", "robot.publish"},
	"admin":      {"*"},
	"tagscoped":  {"robot.run", "run.read"},
	// API tokens: what each may use, whatever its user holds beyond.
	"maintainer-publish-token": {"robot.publish", "robot.read"},
	"viewer-read-token":        {"robot.read", "run.read"},
	"operator-token":           {"robot.read", "robot.run", "run.read", "run.cancel", "service.read", "service.run"},
	"admin-token":              {"*"},
	"admin-ops-token":          {"worker.manage", "service.manage", "service.read"},
	"tagscoped-token":          {"robot.run"},
	"service-account-token":    {"robot.run", "run.read"},
}

// tokenPrincipals are the API tokens setupAPI makes: the user, the
// permissions and the tag scope of each.
var tokenPrincipals = map[string]struct {
	user  string
	perms []hub.Permission
	tag   string
}{
	"maintainer-publish-token": {"maintainer", []hub.Permission{hub.PermRobotPublish, hub.PermRobotRead}, ""},
	"viewer-read-token":        {"viewer", []hub.Permission{hub.PermRobotRead, hub.PermRunRead}, ""},
	// An operator's token asking for everything an operator has.
	"operator-token":        {"operator", []hub.Permission{hub.PermRobotRead, hub.PermRobotRun, hub.PermRunRead, hub.PermRunCancel, hub.PermServiceRead, hub.PermServiceRun}, ""},
	"admin-token":           {"admin", []hub.Permission{hub.PermAdminManage}, ""},
	"admin-ops-token":       {"admin", []hub.Permission{hub.PermWorkerManage, hub.PermServiceManage, hub.PermServiceRead}, ""},
	"tagscoped-token":       {"tagscoped", []hub.Permission{hub.PermRobotRun}, "finance"},
	"service-account-token": {"ci-bot", []hub.Permission{hub.PermRobotRun, hub.PermRunRead}, ""},
}

type apiBundle struct {
	srv    *httpapi.Server
	h      http.Handler
	ids    *identity.Service
	reg    *registry.Service
	root   string
	db     *sqlstore.DB
	bus    *membus.Bus
	runs   *runs.Service
	tokens map[string]string
	users  map[string]*hub.User
}

// setupAPI builds the real server over a real store of the dialect with one
// user per role plus a user whose only rights are tag-scoped grants.
func setupAPI(t testing.TB, dialect string) apiBundle {
	t.Helper()
	return setupAPISized(t, dialect, 1<<20)
}

// setupAPISized is setupAPI with a chosen MAX_ARTIFACT_BYTES.
func setupAPISized(t testing.TB, dialect string, maxArtifact int64) apiBundle {
	t.Helper()
	return setupAPIWith(t, dialect, maxArtifact, nil)
}

// setupAPIWith is setupAPISized with a hook that adjusts the server's
// dependencies.
func setupAPIWith(t testing.TB, dialect string, maxArtifact int64, adjust func(*httpapi.Deps)) apiBundle {
	t.Helper()
	db := hubtest.Store(t, dialect)
	cfg, err := config.Load(map[string]string{"HUB_ADDR": "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, identity.Config{SecretKey: strings.Repeat("s", 40), AllowLocal: true, BcryptCost: bcrypt.MinCost})
	root := t.TempDir()
	blobs, err := blob.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, blobs, registry.Config{MaxArtifactBytes: maxArtifact, Limits: archive.Limits{MaxFiles: 100, MaxUnpackedBytes: 8 * maxArtifact}})
	mb := membus.New(membus.Options{})
	t.Cleanup(func() { mb.Close() })
	runSvc := runs.New(db, mb, blobs, runs.Config{Logger: slog.New(slog.DiscardHandler)})
	ops := runs.NewOps(db, time.Minute, nil)
	ring, err := keyring.New(keyring.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	deps := httpapi.Deps{Config: cfg, Version: "test", Logger: slog.New(slog.DiscardHandler), Auth: ids, Accounts: ids,
		Registry: reg, Runs: runSvc, LiveLogs: mb, Ops: ops, Portal: portal.New(db, runSvc, nil),
		RobotEnv: robotenv.New(db, ring, nil), Tokens: ids,
		Schedules: schedule.New(db, nil, nil), Pools: pools.New(db, mb, nil),
		Agents: agents.New(db, runstate.New(db, mb, blobs, runstate.Config{Logger: slog.New(slog.DiscardHandler)}), mb, nil,
			agents.Config{Version: "test", Logger: slog.New(slog.DiscardHandler)}),
		Alerts: alertService(db), Stats: stats.New(db, nil, time.UTC)}
	if adjust != nil {
		adjust(&deps)
	}
	srv, err := httpapi.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ids.Bootstrap(ctx, "admin", "admin-password", ""); err != nil {
		t.Fatal(err)
	}
	b := apiBundle{srv: srv, h: srv.Handler(), ids: ids, reg: reg, root: root, db: db, bus: mb, runs: runSvc, tokens: map[string]string{}, users: map[string]*hub.User{}}
	adminTok, err := ids.Login(ctx, "admin", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	b.tokens["admin"] = adminTok
	admin, err := ids.Authenticate(ctx, adminTok, "")
	if err != nil {
		t.Fatal(err)
	}
	b.users["admin"] = admin.User
	for name, role := range map[string]hub.Role{"viewer": hub.RoleViewer, "operator": hub.RoleOperator, "maintainer": hub.RoleMaintainer, "tagscoped": hub.RoleNone} {
		u, err := ids.CreateUser(ctx, admin, identity.NewUser{Username: name, Password: "password-" + name, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		b.users[name] = u
		if name == "tagscoped" {
			for _, g := range []identity.NewGrant{
				{ResourceType: "robot", Action: "robot.run", ScopeTag: ptr("finance")},
				{ResourceType: "run", Action: "run.read", ScopeTag: ptr("finance")},
			} {
				if _, err := ids.Grant(ctx, admin, u.ID, g); err != nil {
					t.Fatal(err)
				}
			}
		}
		tok, err := ids.Login(ctx, name, "password-"+name, "")
		if err != nil {
			t.Fatal(err)
		}
		b.tokens[name] = tok
	}
	sa, err := ids.CreateServiceAccount(ctx, admin, identity.NewServiceAccount{Username: "ci-bot", Role: hub.RoleOperator})
	if err != nil {
		t.Fatal(err)
	}
	b.users["ci-bot"] = sa
	for name, tp := range tokenPrincipals {
		in := identity.NewToken{Name: name, Permissions: tp.perms}
		if tp.tag != "" {
			in.ScopeTag = &tp.tag
		}
		var tok string
		if tp.user == "ci-bot" {
			_, tok, err = ids.CreateServiceAccountToken(ctx, admin, sa.ID, in)
		} else {
			var owner *hub.Principal
			if owner, err = ids.Authenticate(ctx, b.tokens[tp.user], ""); err != nil {
				t.Fatal(err)
			}
			_, tok, err = ids.CreateToken(ctx, owner, in)
		}
		if err != nil {
			t.Fatalf("token %s: %v", name, err)
		}
		b.tokens[name] = tok
	}
	return b
}

func ptr(s string) *string { return &s }

func (b apiBundle) call(t testing.TB, who, method, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok := b.tokens[who]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// concrete fills a route's path parameters with plausible values.
func concrete(path string) string {
	r := strings.NewReplacer("{domain_id}", uuid.NewString(), "{service_id}", uuid.NewString(), "{slug}", "dp-rh", "{artifact_id}", uuid.NewString(), "{user_id}", uuid.NewString(), "{permission_id}", "1", "{asset}", "swagger-ui.css",
		"{robot_id}", uuid.NewString(), "{run_id}", uuid.NewString(), "{version_id}", uuid.NewString(), "{pool_id}", uuid.NewString())
	return r.Replace(path)
}

func TestRBACMatrix(t *testing.T) {
	for _, dialect := range hubtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			b := setupAPI(t, dialect)
			routes := b.srv.Routes()
			for _, rt := range routes {
				key := rt.Method + " " + rt.Path
				need, ok := routeAccess[key]
				if !ok {
					t.Errorf("route %s has no entry in routeAccess: decide who may call it", key)
					continue
				}
				if (need == public) != rt.Public {
					t.Errorf("route %s: router says public=%v, matrix says %q", key, rt.Public, need)
				}
				if need == wsRoute || need == deployRoute {
					continue
				}
				if need == agentRoute {
					// No user, and no user's token, passes for an agent.
					for who := range holds {
						rec := b.call(t, who, rt.Method, concrete(rt.Path), "application/json", "{}")
						if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusServiceUnavailable {
							t.Errorf("%s as %s: status %d, want 401 (or 503 without agents)", key, who, rec.Code)
						}
					}
					continue
				}
				need, session := strings.CutSuffix(need, sessionOnly)
				for who, perms := range holds {
					t.Run(strings.ReplaceAll(key, "/", "_")+"/"+who, func(t *testing.T) {
						ct, body := "", ""
						switch {
						case rt.Path == "/api/v1/auth/token":
							ct, body = "application/x-www-form-urlencoded", "username=nobody&password=wrong-password"
						case rt.Method == http.MethodPost || rt.Method == http.MethodPatch || rt.Method == http.MethodPut:
							ct, body = "application/json", "{}"
						}
						rec := b.call(t, who, rt.Method, concrete(rt.Path), ct, body)
						if rec.Code >= 500 {
							t.Fatalf("status %d (%s)", rec.Code, rec.Body)
						}
						allowed := need == public || (need == anyAuth && who != "anonymous")
						isToken := strings.HasSuffix(who, "-token")
						for _, p := range perms {
							for _, n := range strings.Split(need, "|") {
								if p == "*" || p == n {
									allowed = true
								}
							}
						}
						if session && isToken {
							allowed = false
						}
						switch {
						case need == public:
							if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
								t.Errorf("public route answered %d", rec.Code)
							}
						case who == "anonymous":
							if rec.Code != http.StatusUnauthorized {
								t.Errorf("anonymous got %d, want 401", rec.Code)
							}
							if rec.Header().Get("WWW-Authenticate") != "Bearer" {
								t.Errorf("401 without WWW-Authenticate: Bearer")
							}
						case !allowed:
							if rec.Code != http.StatusForbidden {
								t.Errorf("%s lacks %s but got %d, want 403", who, need, rec.Code)
							}
						default:
							if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
								t.Errorf("%s holds %s but got %d (%s)", who, need, rec.Code, rec.Body)
							}
						}
					})
				}
			}
			for key := range routeAccess {
				found := false
				for _, rt := range routes {
					found = found || rt.Method+" "+rt.Path == key
				}
				if !found {
					t.Errorf("routeAccess lists %s, which is not registered", key)
				}
			}
		})
	}
}

func serve(b apiBundle, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, r)
	return rec
}

// TestOpenAPISecurity checks that the document marks exactly the protected
// routes with the bearer scheme.
func TestOpenAPISecurity(t *testing.T) {
	b := setupAPI(t, hubtest.Dialects()[0])
	rec := b.call(t, "anonymous", http.MethodGet, "/openapi.json", "", "")
	var doc struct {
		Paths      map[string]map[string]struct{ Security []map[string][]string } `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string } `json:"securitySchemes"`
		} `json:"components"`
	}
	jsonBody(t, rec.Body.Bytes(), &doc)
	if s := doc.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Errorf("bearer scheme = %+v", s)
	}
	for _, rt := range b.srv.Routes() {
		op := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		secured := len(op.Security) == 1 && (op.Security[0]["bearer"] != nil || op.Security[0]["agentCredential"] != nil)
		if secured == rt.Public {
			t.Errorf("%s %s: public=%v but bearer security documented=%v", rt.Method, rt.Path, rt.Public, secured)
		}
	}
}
