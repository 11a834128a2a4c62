// Package config defines every setting of the hub, its default, and how it is
// read from environment variables and an optional .env file. Setting names
// follow the previous backend wherever one existed, so an existing .env keeps
// working. Only cmd/hub reads the environment; everything else receives a
// validated Config.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"automationhub/internal/hub"
	"automationhub/internal/keyring"
)

// Config holds every setting. Field tags: `env` is the variable name,
// `envDefault` its default, `group` the heading it is listed under in
// `hub --help`, `help` its description.
type Config struct {
	// Server
	AppName                string   `env:"APP_NAME" envDefault:"Automation Hub" group:"Server" help:"Product name shown in the API document and logs."`
	Environment            string   `env:"ENVIRONMENT" envDefault:"dev" group:"Server" help:"dev or prod. In prod the hub refuses to start with an empty or well-known SECRET_KEY."`
	Addr                   string   `env:"HUB_ADDR" envDefault:":8000" group:"Server" help:"Listen address of the HTTP API."`
	DataDir                string   `env:"HUB_DATA_DIR" envDefault:"./data" group:"Server" help:"Folder for the embedded database, artifacts and worker caches; a relative path is resolved once, against the working directory at start."`
	PublicURL              string   `env:"HUB_PUBLIC_URL" group:"Server" help:"URL users reach the hub at (printed at start; derived from HUB_ADDR when empty)."`
	MaxBodyBytes           int64    `env:"HUB_MAX_BODY_BYTES" envDefault:"1048576" group:"Server" help:"Largest accepted JSON or form request body, in bytes (uploads have their own limit)."`
	ShutdownTimeoutSeconds int      `env:"HUB_SHUTDOWN_TIMEOUT_SECONDS" envDefault:"30" group:"Server" help:"How long a graceful shutdown may take before remaining work is abandoned."`
	CORSOrigins            []string `env:"CORS_ORIGINS" envDefault:"http://localhost:3000" envSeparator:"," group:"Server" help:"Comma-separated origins allowed to call the API from a browser; empty disables CORS."`
	AllowedHosts           []string `env:"ALLOWED_HOSTS" envSeparator:"," group:"Server" help:"Comma-separated Host header values accepted; empty accepts any host."`
	TrustedProxies         []string `env:"TRUSTED_PROXIES" envSeparator:"," group:"Server" help:"Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed for the client IP."`
	LogLevel               string   `env:"LOG_LEVEL" envDefault:"INFO" group:"Server" help:"DEBUG, INFO, WARN or ERROR."`
	LogFormat              string   `env:"LOG_FORMAT" envDefault:"json" group:"Server" help:"json (one JSON object per line) or text."`

	// Storage
	DatabaseURL              string `env:"DATABASE_URL" file:"true" group:"Storage" help:"postgres://… selects PostgreSQL; sqlite:PATH or empty selects the SQLite file HUB_DATA_DIR/hub.db."`
	RedisURL                 string `env:"REDIS_URL" file:"true" group:"Storage" help:"redis://… for a distributed queue and live logs; empty keeps both in process (single-node mode)."`
	RedisQueueName           string `env:"REDIS_QUEUE_NAME" envDefault:"hub:runs:queue" group:"Storage" help:"Redis stream that carries run-ready signals."`
	RedisPubSubPrefix        string `env:"REDIS_PUBSUB_PREFIX" envDefault:"hub:runs" group:"Storage" help:"Prefix of the Redis channels for live logs and cancel signals."`
	ArtifactsRoot            string `env:"ARTIFACTS_ROOT" group:"Storage" help:"Folder of robot packages and run artifacts, shared by API and workers (default HUB_DATA_DIR/artifacts)."`
	MaxArtifactBytes         int64  `env:"MAX_ARTIFACT_BYTES" envDefault:"1073741824" group:"Storage" help:"Largest robot package accepted by publish, and largest output file a run keeps, in bytes."`
	MaxArtifactFiles         int    `env:"MAX_ARTIFACT_FILES" envDefault:"10000" group:"Storage" help:"Most entries a robot ZIP may contain."`
	MaxArtifactUnpackedBytes int64  `env:"MAX_ARTIFACT_UNPACKED_BYTES" envDefault:"4294967296" group:"Storage" help:"Largest total uncompressed size of a robot ZIP, in bytes."`

	// Authentication
	SecretKey                string `env:"SECRET_KEY" file:"true" group:"Authentication" secret:"true" help:"Key that signs local access tokens (at least 32 characters). Empty: a random key is generated and kept in HUB_DATA_DIR."`
	Algorithm                string `env:"ALGORITHM" envDefault:"HS256" group:"Authentication" help:"Signing algorithm of local tokens; only HS256 is accepted."`
	AccessTokenExpireMinutes int    `env:"ACCESS_TOKEN_EXPIRE_MINUTES" envDefault:"60" group:"Authentication" help:"Lifetime of local access tokens, in minutes."`
	AuthMode                 string `env:"AUTH_MODE" envDefault:"hybrid" group:"Authentication" help:"hybrid (local and Azure AD), local or azure."`
	AllowLocalAuth           bool   `env:"ALLOW_LOCAL_AUTH" envDefault:"true" group:"Authentication" help:"Accept local user names and passwords."`
	DefaultAdminUsername     string `env:"DEFAULT_ADMIN_USERNAME" envDefault:"admin" group:"Authentication" help:"User created on first start when there are no users."`
	DefaultAdminPassword     string `env:"DEFAULT_ADMIN_PASSWORD" file:"true" group:"Authentication" secret:"true" help:"Its password; empty generates a strong one and prints it once."`
	DefaultAdminEmail        string `env:"DEFAULT_ADMIN_EMAIL" group:"Authentication" help:"Its e-mail address (optional)."`
	PasswordHashCost         int    `env:"PASSWORD_HASH_COST" envDefault:"12" group:"Authentication" help:"bcrypt work factor of new password hashes, 10 to 16 (4 is accepted only when ENVIRONMENT=test)."`

	// Secrets
	EncryptionKey     string   `env:"ENCRYPTION_KEY" file:"true" group:"Secrets" secret:"true" help:"Key that encrypts robot configuration and secrets at rest (AES-256-GCM): 32 bytes in URL-safe base64, the previous backend's Fernet key format (hub secrets keygen prints one). Empty: on SQLite a key is generated and kept in HUB_DATA_DIR; on PostgreSQL the hub refuses to start."`
	EncryptionKeysOld []string `env:"ENCRYPTION_KEYS_OLD" envSeparator:"," file:"true" group:"Secrets" secret:"true" help:"Comma-separated earlier keys: values they encrypted stay readable until hub secrets rotate re-encrypts them under ENCRYPTION_KEY."`
	DeployToken       string   `env:"DEPLOY_TOKEN" file:"true" group:"Secrets" secret:"true" help:"Shared token of POST /api/v1/deploy/robots/{id}/versions/publish (x-deploy-token header), valid for every robot; empty disables it (503). Prefer API tokens with robot.publish on one robot."`

	// Azure AD
	AzureTenantID           string   `env:"AZURE_AD_TENANT_ID" group:"Azure AD" help:"Tenant id; Azure AD is enabled when tenant, client id and audience are all set."`
	AzureClientID           string   `env:"AZURE_AD_CLIENT_ID" group:"Azure AD" help:"Application (client) id."`
	AzureAudience           string   `env:"AZURE_AD_AUDIENCE" group:"Azure AD" help:"Expected aud claim of access tokens."`
	AzureIssuer             string   `env:"AZURE_AD_ISSUER" group:"Azure AD" help:"Issuer override (default https://login.microsoftonline.com/TENANT/v2.0)."`
	AzureJWKSURL            string   `env:"AZURE_AD_JWKS_URL" group:"Azure AD" help:"JWKS URL override (default from the issuer's discovery document)."`
	AzureGroupAdminIDs      []string `env:"AZURE_AD_GROUP_ADMIN_IDS" envSeparator:"," group:"Azure AD" help:"Comma-separated group object ids whose members are Admin."`
	AzureGroupMaintainerIDs []string `env:"AZURE_AD_GROUP_MAINTAINER_IDS" envSeparator:"," group:"Azure AD" help:"Comma-separated group object ids whose members are Maintainer."`
	AzureGroupOperatorIDs   []string `env:"AZURE_AD_GROUP_OPERATOR_IDS" envSeparator:"," group:"Azure AD" help:"Comma-separated group object ids whose members are Operator."`
	AzureGroupViewerIDs     []string `env:"AZURE_AD_GROUP_VIEWER_IDS" envSeparator:"," group:"Azure AD" help:"Comma-separated group object ids whose members are Viewer."`
	AzureDefaultRole        string   `env:"AZURE_AD_DEFAULT_ROLE" envDefault:"Viewer" group:"Azure AD" help:"Role of a tenant user matched by no group or app role: Viewer, Operator, Maintainer, Admin or none."`
	AutoProvisionAzureUsers bool     `env:"AUTO_PROVISION_AZURE_USERS" envDefault:"true" group:"Azure AD" help:"Create a hub user on a tenant user's first request."`
	AzureClientSecret       string   `env:"AZURE_AD_CLIENT_SECRET" file:"true" group:"Azure AD" secret:"true" help:"Client secret for the web UI's Microsoft sign-in (empty: a public client using PKCE only)."`
	AzureUIScopes           []string `env:"AZURE_AD_UI_SCOPES" envSeparator:"," group:"Azure AD" help:"Scopes the web UI asks for to get an access token for this API (default AUDIENCE/.default)."`

	// Web UI
	WebUI bool `env:"WEB_UI" envDefault:"true" group:"Web UI" help:"Serve the browser UI (portal, runs, registry, admin) at /; false leaves only the API."`

	// Execution
	PythonExecutable         string `env:"PYTHON_EXECUTABLE" group:"Execution" help:"Interpreter for PYTHON robots (default python3; python on Windows)."`
	WorkerID                 string `env:"HUB_WORKER_ID" group:"Execution" help:"Stable id of this worker (default: derived from the host name and data folder)."`
	WorkerAddr               string `env:"HUB_WORKER_ADDR" group:"Execution" help:"Listen address of /healthz, /readyz and /metrics for hub worker and hub cleanup (e.g. 127.0.0.1:9101); empty: none. hub serve and hub all answer them on HUB_ADDR."`
	WorkerConcurrency        int    `env:"WORKER_CONCURRENCY" group:"Execution" help:"Runs one worker executes at once (default: number of CPUs)."`
	WorkerLabels             string `env:"HUB_WORKER_LABELS" group:"Execution" help:"Comma-separated labels of this worker (os=windows,desktop,sap); hub worker and hub all also take --labels. A robot's runs go only to workers with every label it requires."`
	WorkerStaleSeconds       int    `env:"WORKER_STALE_SECONDS" envDefault:"60" group:"Execution" help:"A running run whose worker has not renewed its lease for this long is failed as 'worker lost'."`
	RobotSandbox             string `env:"ROBOT_SANDBOX" envDefault:"auto" group:"Execution" help:"Confine robots (Linux Landlock): auto (when the kernel can, else warn), required (refuse to run robots unconfined) or off."`
	RobotUser                string `env:"ROBOT_USER" group:"Execution" help:"User (name or uid) robots run as when the worker runs as root, e.g. a dedicated hub-robot account; needs ROBOT_SANDBOX. Empty: robots run as the worker's user, without any capability."`
	RunDefaultTimeoutSeconds int    `env:"RUN_DEFAULT_TIMEOUT_SECONDS" envDefault:"3600" group:"Execution" help:"Timeout of a run that does not ask for one."`
	RunMaxDiskBytes          int64  `env:"RUN_MAX_DISK_BYTES" envDefault:"10737418240" group:"Execution" help:"Disk one run may use in its folder (working copy, outputs, temporary files), in bytes, 1 MiB to 1 PiB; a run that uses more is stopped and fails."`

	// Execution: Python environments (package pyenv)
	PythonExecutables            []string `env:"PYTHON_EXECUTABLES" envSeparator:"," group:"Execution" help:"More interpreters, comma-separated, that a robot.yaml asking for a Python version (python: \"3.11\") may use; on Windows the py launcher is tried too."`
	PythonEnvBuildTimeoutSeconds int      `env:"PYTHON_ENV_BUILD_TIMEOUT_SECONDS" envDefault:"900" group:"Execution" help:"Longest build of a robot's Python environment (requirements.txt); a run whose build takes longer fails."`
	PythonEnvUV                  string   `env:"PYTHON_ENV_UV" group:"Execution" help:"uv program that builds Python environments (much faster than pip); empty: uv when it is on PATH, else venv and pip; off: always venv and pip."`
	PythonEnvCacheBytes          int64    `env:"PYTHON_ENV_CACHE_BYTES" envDefault:"21474836480" group:"Execution" help:"Disk budget of a worker's Python environments, in bytes; the least recently used are removed past it."`

	// Retention
	LogRetentionDays      int `env:"LOG_RETENTION_DAYS" envDefault:"90" group:"Retention" help:"Run log lines older than this are deleted."`
	ArtifactRetentionDays int `env:"ARTIFACT_RETENTION_DAYS" envDefault:"90" group:"Retention" help:"Run artifacts (files and rows) older than this are deleted."`
	WorkspaceCacheDays    int `env:"WORKSPACE_CACHE_DAYS" envDefault:"7" group:"Retention" help:"Unpacked robot packages and Python environments unused for this long are removed from worker caches."`
	CleanupIntervalHours  int `env:"CLEANUP_INTERVAL_HOURS" envDefault:"24" group:"Retention" help:"Hours between cleanup passes."`

	// Alerts and notifications
	AppTimezone               string `env:"APP_TIMEZONE" envDefault:"America/Sao_Paulo" group:"Alerts" help:"Time zone of daily SLA times (robots without a schedule) and of the dashboard's days."`
	SLAMonitorIntervalSeconds int    `env:"SLA_MONITOR_INTERVAL_SECONDS" envDefault:"60" group:"Alerts" help:"Seconds between looks for late robots, long runs, missed schedule fires, queue backlog and silent workers (one hub serve process does it at a time). Failed runs are seen within 5 seconds."`
	FailureStreakThreshold    int    `env:"FAILURE_STREAK_THRESHOLD" envDefault:"3" group:"Alerts" help:"Finished runs in a row that must fail for a FAILURE_STREAK alert."`
	QueueBacklogAlertSeconds  int    `env:"QUEUE_BACKLOG_ALERT_SECONDS" envDefault:"900" group:"Alerts" help:"A QUEUE_BACKLOG alert is raised when the oldest waiting run has waited longer than this."`
	SMTPHost                  string `env:"SMTP_HOST" group:"Alerts" help:"Mail server for e-mail notifications; empty: e-mail notices fail (and show as failed)."`
	SMTPPort                  int    `env:"SMTP_PORT" envDefault:"587" group:"Alerts" help:"Its port."`
	SMTPUsername              string `env:"SMTP_USERNAME" group:"Alerts" help:"User to authenticate as (empty: no authentication)."`
	SMTPPassword              string `env:"SMTP_PASSWORD" file:"true" group:"Alerts" secret:"true" help:"Its password."`
	SMTPFrom                  string `env:"SMTP_FROM" group:"Alerts" help:"Sender address of e-mail notifications (default automation-hub@<SMTP_HOST>)."`
	SMTPTLS                   string `env:"SMTP_TLS" envDefault:"starttls" group:"Alerts" help:"starttls (required before authenticating or sending), tls (implicit TLS, port 465) or none (trusted local relays only)."`

	// SecretFiles are the files secret settings were read from (NAME_FILE);
	// robots must never read them.
	SecretFiles []string
}

// weakSecrets are the sample keys shipped with the previous backend; they are
// refused in production.
var weakSecrets = []string{"change-me", "change-this-secret", "replace-with-strong-secret", "secret", "changeme"}

// Default returns the configuration used when nothing is set.
func Default() Config {
	c, err := Load(nil)
	if err != nil {
		panic(fmt.Sprintf("config: defaults do not validate: %v", err))
	}
	return c
}

// Load builds a Config from vars (variable name → value; names are
// case-insensitive), applies defaults, derives dependent values and validates
// the result. The error names the offending variable.
func Load(vars map[string]string) (Config, error) {
	upper := make(map[string]string, len(vars))
	for k, v := range vars {
		upper[strings.ToUpper(strings.TrimSpace(k))] = v
	}
	files, err := readSettingFiles(upper)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: upper}); err != nil {
		return Config{}, describeParseError(err)
	}
	c.clearExplicitlyEmptyLists(upper)
	c.SecretFiles = files
	c.normalise()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// FileSuffix names the variable that gives a secret setting's value in a
// file instead (SECRET_KEY_FILE=/run/secrets/hub-key): values in files stay
// out of the process environment, which other processes of the same user
// (robots among them) might read.
const FileSuffix = "_FILE"

// maxSettingFile bounds a secret file; a value is never larger.
const maxSettingFile = 64 << 10

// readSettingFiles replaces NAME_FILE entries of vars by NAME, read from the
// file (one trailing newline removed), for every setting that accepts a file.
// Setting both NAME and NAME_FILE is an error. It returns the absolute
// paths of the files it read.
func readSettingFiles(vars map[string]string) ([]string, error) {
	var read []string
	for _, s := range Settings() {
		if !s.File {
			continue
		}
		path, ok := vars[s.Name+FileSuffix]
		if !ok || strings.TrimSpace(path) == "" {
			continue
		}
		if v := vars[s.Name]; v != "" {
			return nil, fmt.Errorf("invalid %s: set either %s or %s, not both", s.Name+FileSuffix, s.Name, s.Name+FileSuffix)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("invalid %s: %w", s.Name+FileSuffix, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxSettingFile+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("invalid %s: read %s: %w", s.Name+FileSuffix, path, err)
		}
		if len(b) > maxSettingFile {
			return nil, fmt.Errorf("invalid %s: %s is larger than %d bytes", s.Name+FileSuffix, path, maxSettingFile)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return nil, fmt.Errorf("invalid %s: %s is empty", s.Name+FileSuffix, path)
		}
		vars[s.Name] = v
		delete(vars, s.Name+FileSuffix)
		read = append(read, absPath(path))
	}
	return read, nil
}

// clearExplicitlyEmptyLists gives list settings that are present but empty
// (CORS_ORIGINS=) an empty value; the env library would substitute the
// default, which for CORS_ORIGINS would re-enable an origin the operator just
// removed. Scalar settings keep "empty means default".
func (c *Config) clearExplicitlyEmptyLists(vars map[string]string) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type != reflect.TypeFor[[]string]() {
			continue
		}
		if raw, ok := vars[f.Tag.Get("env")]; ok && strings.TrimSpace(raw) == "" {
			v.Field(i).Set(reflect.ValueOf([]string{}))
		}
	}
}

func (c *Config) normalise() {
	for _, p := range []*[]string{&c.CORSOrigins, &c.AllowedHosts, &c.TrustedProxies, &c.EncryptionKeysOld,
		&c.AzureGroupAdminIDs, &c.AzureGroupMaintainerIDs, &c.AzureGroupOperatorIDs, &c.AzureGroupViewerIDs} {
		*p = cleanList(*p)
	}
	c.Environment = strings.ToLower(strings.TrimSpace(c.Environment))
	c.EncryptionKey = strings.TrimSpace(c.EncryptionKey)
	c.DeployToken = strings.TrimSpace(c.DeployToken)
	c.LogLevel = strings.ToUpper(strings.TrimSpace(c.LogLevel))
	if c.LogLevel == "WARNING" {
		c.LogLevel = "WARN"
	}
	c.LogFormat = strings.ToLower(strings.TrimSpace(c.LogFormat))
	c.AuthMode = strings.ToLower(strings.TrimSpace(c.AuthMode))
	c.RobotSandbox = strings.ToLower(strings.TrimSpace(c.RobotSandbox))
	c.Algorithm = strings.ToUpper(strings.TrimSpace(c.Algorithm))
	// Folders are resolved against the working directory once, here: robots
	// run in other directories, so no relative path may travel further.
	c.DataDir = absPath(c.DataDir)
	if c.ArtifactsRoot == "" {
		c.ArtifactsRoot = filepath.Join(c.DataDir, "artifacts")
	}
	c.ArtifactsRoot = absPath(c.ArtifactsRoot)
	if c.PythonExecutable == "" {
		c.PythonExecutable = "python3"
		if runtime.GOOS == "windows" {
			c.PythonExecutable = "python"
		}
	}
	if c.WorkerConcurrency == 0 {
		c.WorkerConcurrency = runtime.NumCPU()
	}
}

// absPath makes a non-empty path absolute; an empty one stays empty for
// Validate to name.
func absPath(p string) string {
	if strings.TrimSpace(p) == "" {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func cleanList(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks every setting and returns an error naming the first invalid variable.
func (c Config) Validate() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("invalid %s: %s", name, fmt.Sprintf(format, args...))
	}
	oneOf := func(name, v string, allowed ...string) error {
		if !slices.Contains(allowed, v) {
			return bad(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
		return nil
	}
	for _, check := range []error{
		oneOf("ENVIRONMENT", c.Environment, "dev", "prod", "test"),
		oneOf("LOG_LEVEL", c.LogLevel, "DEBUG", "INFO", "WARN", "ERROR"),
		oneOf("LOG_FORMAT", c.LogFormat, "json", "text"),
		oneOf("AUTH_MODE", c.AuthMode, "hybrid", "local", "azure"),
		oneOf("ALGORITHM", c.Algorithm, "HS256"),
		oneOf("AZURE_AD_DEFAULT_ROLE", c.AzureDefaultRole, "Viewer", "Operator", "Maintainer", "Admin", "none"),
		oneOf("ROBOT_SANDBOX", c.RobotSandbox, "auto", "required", "off"),
		oneOf("SMTP_TLS", c.SMTPTLS, "starttls", "tls", "none"),
	} {
		if check != nil {
			return check
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("HUB_ADDR", "%q is not host:port", c.Addr)
	}
	if c.WorkerAddr != "" {
		if _, _, err := net.SplitHostPort(c.WorkerAddr); err != nil {
			return bad("HUB_WORKER_ADDR", "%q is not host:port", c.WorkerAddr)
		}
	}
	if _, err := time.LoadLocation(c.AppTimezone); err != nil || c.AppTimezone == "" {
		return bad("APP_TIMEZONE", "%q is not a known time zone", c.AppTimezone)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return bad("HUB_DATA_DIR", "must not be empty")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("HUB_PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
		}
	}
	if _, err := ParseDatabaseURL(c.DatabaseURL, c.DataDir); err != nil {
		return bad("DATABASE_URL", "%v", err)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return bad("REDIS_URL", "must be a redis:// or rediss:// URL")
		}
	}
	if strings.TrimSpace(c.RedisQueueName) == "" {
		return bad("REDIS_QUEUE_NAME", "must not be empty")
	}
	if strings.TrimSpace(c.RedisPubSubPrefix) == "" {
		return bad("REDIS_PUBSUB_PREFIX", "must not be empty")
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "") {
			return bad("CORS_ORIGINS", "%q is not an origin like https://host:port", o)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParseIPOrCIDR(p); err != nil {
			return bad("TRUSTED_PROXIES", "%q is not an IP address or CIDR", p)
		}
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		return bad("SECRET_KEY", "must be at least 32 characters (or empty to generate one)")
	}
	if c.Environment == "prod" && (c.SecretKey == "" || slices.Contains(weakSecrets, strings.ToLower(c.SecretKey))) {
		return bad("SECRET_KEY", "must be set to a strong random value when ENVIRONMENT=prod")
	}
	if c.EncryptionKey == "" && len(c.EncryptionKeysOld) > 0 {
		return bad("ENCRYPTION_KEYS_OLD", "needs ENCRYPTION_KEY: the current key, which seals new values and re-encrypts old ones")
	}
	if c.EncryptionKey != "" {
		if _, err := keyring.New(c.EncryptionKey, c.EncryptionKeysOld...); err != nil {
			name, msg, _ := strings.Cut(err.Error(), " ")
			return bad(name, "%s", msg)
		}
	}
	if c.DeployToken != "" && len(c.DeployToken) < 16 {
		return bad("DEPLOY_TOKEN", "must be at least 16 characters (or empty to disable the deploy endpoint)")
	}
	if c.DefaultAdminPassword != "" && (len(c.DefaultAdminPassword) < 8 || len(c.DefaultAdminPassword) > 128) {
		return bad("DEFAULT_ADMIN_PASSWORD", "must be 8 to 128 characters")
	}
	if c.Environment == "prod" && slices.Contains([]string{"admin123", "change-in-production"}, c.DefaultAdminPassword) {
		return bad("DEFAULT_ADMIN_PASSWORD", "must not be a well-known sample password when ENVIRONMENT=prod")
	}
	if c.AuthMode == "azure" && !c.AzureEnabled() {
		return bad("AUTH_MODE", "azure needs AZURE_AD_TENANT_ID, AZURE_AD_CLIENT_ID and AZURE_AD_AUDIENCE")
	}
	if strings.TrimSpace(c.DefaultAdminUsername) == "" {
		return bad("DEFAULT_ADMIN_USERNAME", "must not be empty")
	}
	for _, u := range []struct{ name, v string }{{"AZURE_AD_ISSUER", c.AzureIssuer}, {"AZURE_AD_JWKS_URL", c.AzureJWKSURL}} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return bad(u.name, "%q is not an http(s) URL", u.v)
		}
	}
	// Password hashes cheaper than cost 10 are for test suites only.
	minHashCost := int64(10)
	if c.Environment == "test" {
		minHashCost = 4
	}
	ranges := []struct {
		name      string
		v, lo, hi int64
	}{
		{"PASSWORD_HASH_COST", int64(c.PasswordHashCost), minHashCost, 16},
		{"HUB_MAX_BODY_BYTES", c.MaxBodyBytes, 1024, 1 << 30},
		{"HUB_SHUTDOWN_TIMEOUT_SECONDS", int64(c.ShutdownTimeoutSeconds), 1, 3600},
		{"MAX_ARTIFACT_BYTES", c.MaxArtifactBytes, 1, 1 << 40},
		{"MAX_ARTIFACT_FILES", int64(c.MaxArtifactFiles), 1, 10_000_000},
		{"MAX_ARTIFACT_UNPACKED_BYTES", c.MaxArtifactUnpackedBytes, 1, 1 << 42},
		{"ACCESS_TOKEN_EXPIRE_MINUTES", int64(c.AccessTokenExpireMinutes), 1, 60 * 24 * 7},
		{"WORKER_CONCURRENCY", int64(c.WorkerConcurrency), 1, 1024},
		{"WORKER_STALE_SECONDS", int64(c.WorkerStaleSeconds), 10, 86400},
		{"RUN_DEFAULT_TIMEOUT_SECONDS", int64(c.RunDefaultTimeoutSeconds), 1, 7 * 86400},
		{"RUN_MAX_DISK_BYTES", c.RunMaxDiskBytes, 1 << 20, 1 << 50},
		{"PYTHON_ENV_BUILD_TIMEOUT_SECONDS", int64(c.PythonEnvBuildTimeoutSeconds), 10, 86400},
		{"PYTHON_ENV_CACHE_BYTES", c.PythonEnvCacheBytes, 1 << 20, 1 << 50},
		{"LOG_RETENTION_DAYS", int64(c.LogRetentionDays), 1, 36500},
		{"ARTIFACT_RETENTION_DAYS", int64(c.ArtifactRetentionDays), 1, 36500},
		{"WORKSPACE_CACHE_DAYS", int64(c.WorkspaceCacheDays), 1, 36500},
		{"CLEANUP_INTERVAL_HOURS", int64(c.CleanupIntervalHours), 1, 24 * 365},
		{"SLA_MONITOR_INTERVAL_SECONDS", int64(c.SLAMonitorIntervalSeconds), 5, 86400},
		{"FAILURE_STREAK_THRESHOLD", int64(c.FailureStreakThreshold), 1, 100},
		{"QUEUE_BACKLOG_ALERT_SECONDS", int64(c.QueueBacklogAlertSeconds), 10, 7 * 86400},
		{"SMTP_PORT", int64(c.SMTPPort), 1, 65535},
	}
	for _, r := range ranges {
		if r.v < r.lo || r.v > r.hi {
			return bad(r.name, "%d is outside %d..%d", r.v, r.lo, r.hi)
		}
	}
	if _, err := hub.ParseLabels(c.WorkerLabels); err != nil {
		return bad("HUB_WORKER_LABELS", "%s", hub.ErrorMessage(err))
	}
	return nil
}

// Labels returns the worker's labels (HUB_WORKER_LABELS), normalized;
// Validate has checked them.
func (c Config) Labels() []string {
	l, err := hub.ParseLabels(c.WorkerLabels)
	if err != nil {
		return []string{}
	}
	return l
}

// AzureEnabled reports whether Azure AD tokens are accepted: tenant, client id
// and audience must all be set.
func (c Config) AzureEnabled() bool {
	return c.AzureTenantID != "" && c.AzureClientID != "" && c.AzureAudience != ""
}

// ParseIPOrCIDR parses "10.0.0.1" or "10.0.0.0/8" into a network.
func ParseIPOrCIDR(s string) (*net.IPNet, error) {
	if strings.Contains(s, "/") {
		_, n, err := net.ParseCIDR(s)
		return n, err
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, errors.New("not an IP address")
	}
	bits := 128
	if ip.To4() != nil {
		ip, bits = ip.To4(), 32
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
}

// describeParseError turns the env library's error into one line that names
// the variable instead of the Go field.
func describeParseError(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		name := pe.Name
		if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
			name = f.Tag.Get("env")
		}
		msg := pe.Err.Error()
		if ne := (*strconv.NumError)(nil); errors.As(pe.Err, &ne) {
			msg = fmt.Sprintf("%q is not a valid %s", ne.Num, pe.Type)
		}
		return fmt.Errorf("invalid %s: %s", name, msg)
	}
	return fmt.Errorf("invalid configuration: %w", err)
}
