package webui

import (
	"regexp"
	"strings"
)

// apiMessages maps the API's known error messages to catalogue keys, so
// the UI shows them in the reader's language while the API keeps the
// previous backend's texts (some Portuguese) for its clients. A pattern's
// %s stands for any text, handed to the translation in order; messages
// that match no pattern are shown as the API wrote them.
var apiMessages = []struct{ pattern, key string }{
	// Sign-in and accounts.
	{"Not authenticated", "api.not_authenticated"},
	{"Permissao insuficiente.", "api.forbidden"},
	{"Invalid username or password.", "api.bad_credentials"},
	{"Inactive user.", "api.inactive_user"},
	{"Too many failed login attempts. Try again later.", "api.too_many_attempts"},
	{"Current password is incorrect.", "api.wrong_password"},
	{"The server is busy checking passwords. Try again in a few seconds.", "api.busy"},
	{"Only local accounts have a password in the hub; Microsoft (Azure AD) accounts change it with Microsoft.", "api.not_local"},
	{"The password was changed meanwhile; sign in again.", "api.password_changed_meanwhile"},
	{"password must be 8 to 128 characters.", "api.password_length"},
	{"username must be 3 to 128 characters.", "api.username_length"},
	{"email is not a valid e-mail address.", "api.email_invalid"},
	{"Username already exists.", "api.username_taken"},
	{"Email already exists.", "api.email_taken"},
	{"User not found.", "api.user_not_found"},
	{"The last active local administrator cannot be demoted or deactivated.", "api.last_admin"},
	{"Permission already granted.", "api.grant_exists"},
	{"Permission not found.", "api.grant_not_found"},
	{"Permission '%s' cannot be limited to a robot or tag.", "api.grant_not_scoped"},
	// Runs.
	{"Run nao encontrada.", "api.run_not_found"},
	{"run_id invalido.", "api.run_id_invalid"},
	{"robot_id invalido.", "api.robot_id_invalid"},
	{"Robot version not found for execution.", "api.run_no_version"},
	{"Robot version %s has no package yet; publish a version with an artifact first.", "api.run_no_package"},
	{`runtime_env key "%s" is not a valid variable name.`, "api.runtime_env_key"},
	{"runtime_arguments must not contain NUL characters.", "api.runtime_arguments_nul"},
	{"timeout_seconds must be between 1 and 604800.", "api.timeout_range"},
	{"env_name must be one of: PROD, HML, TEST.", "api.env_name"},
	{"Only PENDING or RUNNING runs can be canceled.", "api.cancel_state"},
	{"Artifact not found.", "api.artifact_not_found"},
	{"Artifact file not found on disk.", "api.artifact_missing"},
	// Robots.
	{"Robot not found.", "api.robot_not_found"},
	{"Robot name already exists.", "api.robot_name_taken"},
	{"name must be 3 to 200 characters.", "api.robot_name_length"},
	{"Version not found.", "api.version_not_found"},
	{"Version already exists for this robot.", "api.version_exists"},
	{"Invalid semver version.", "api.semver"},
	{"Only .zip and .exe artifacts are supported.", "api.artifact_kind"},
	{"The artifact file is empty.", "api.artifact_empty"},
	{"The artifact is larger than the limit of %s bytes (MAX_ARTIFACT_BYTES).", "api.artifact_too_large"},
	// Schedules, pools and limits.
	{"cron_expr must have exactly 5 fields.", "api.cron_fields"},
	{"cron_expr contains invalid field syntax.", "api.cron_syntax"},
	{"window_start and window_end must be informed together.", "api.window_pair"},
	{`Unknown timezone: "%s". Use an IANA name such as America/Sao_Paulo or UTC.`, "api.timezone_unknown"},
	{"Robot already has a schedule.", "api.schedule_exists"},
	{"Schedule not found.", "api.schedule_not_found"},
	{"A pool with this name already exists.", "api.pool_name_taken"},
	{"Pool not found.", "api.pool_not_found"},
	{"Unknown pool: %s.", "api.pool_unknown"},
	{"Pool %s is needed by %s robot(s); remove it from their resource_pools first.", "api.pool_in_use"},
	{"name must be 1 to 100 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.", "api.pool_name"},
	// Portal.
	{"Service not found.", "api.service_not_found"},
	{"Domain not found.", "api.domain_not_found"},
	{"Service is currently disabled.", "api.service_disabled"},
	{"Field '%s' is required.", "api.field_required"},
	{"Field '%s' has invalid format.", "api.field_format"},
	{"Field '%s' must be a number.", "api.field_number"},
	{"Field '%s' must be >= %s.", "api.field_min"},
	{"Field '%s' must be <= %s.", "api.field_max"},
	{"Field '%s' must contain at least %s characters.", "api.field_min_length"},
	{"Field '%s' must contain at most %s characters.", "api.field_max_length"},
	{"Field '%s' must be a date in format YYYY-MM-DD.", "api.field_date"},
	// Robot configuration and API tokens.
	{"Missing required env vars for %s: %s. Configure keys in Robot > Config/Secrets before executing.", "api.missing_env"},
	{"env must be one of: PROD, HML, TEST.", "api.env_param"},
	{"value is required for key '%s'.", "api.env_value_required"},
	{"Env key not found.", "api.env_key_not_found"},
	{"Key %s is reserved: a robot's configuration may not set loader, interpreter or shell variables, PATH, HOME or HUB_* variables.", "api.env_key_reserved"},
	{"runtime_env key %s is a secret of the robot's %s configuration and cannot be overridden.", "api.env_secret_override"},
	{"You do not hold %s%s, so a token cannot have it.", "api.token_beyond_owner"},
	{"The service account does not hold %s%s: grant it first.", "api.token_beyond_account"},
	{"API tokens cannot do this: sign in as the user.", "api.tokens_session_only"},
	{"Give robot_id or scope_tag, not both.", "api.token_robot_or_tag"},
	{"expires_at must be in the future.", "api.token_expires_past"},
	{"permissions must list at least one permission.", "api.token_permissions"},
	// Request validation (one field of a 422 list).
	{"%s must not contain NUL characters.", "api.nul_field"},
	{"expected required property %s to be present", "api.required_property"},
	{"expected length >= %s", "api.min_length"},
	{"expected length <= %s", "api.max_length"},
	{"expected number >= %s", "api.min_number"},
	{"expected number <= %s", "api.max_number"},
}

// apiMessage is one compiled entry of apiMessages.
type apiMessage struct {
	re  *regexp.Regexp // nil for an exact text
	key string
}

// apiExact holds the patterns without placeholders by text; apiPatterns
// the others, in table order.
var apiExact, apiPatterns = compileAPIMessages()

func compileAPIMessages() (map[string]string, []apiMessage) {
	exact := map[string]string{}
	var patterns []apiMessage
	for _, m := range apiMessages {
		if !strings.Contains(m.pattern, "%s") {
			exact[m.pattern] = m.key
			continue
		}
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(m.pattern), "%s", "(.+?)") + "$"
		patterns = append(patterns, apiMessage{re: regexp.MustCompile(re), key: m.key})
	}
	return exact, patterns
}

// API returns an API message in the reader's language when the catalogue
// knows it, else the message unchanged.
func (t translator) API(detail string) string {
	if key, ok := apiExact[detail]; ok {
		return t.T(key)
	}
	for _, p := range apiPatterns {
		if m := p.re.FindStringSubmatch(detail); m != nil {
			args := make([]any, len(m)-1)
			for i, s := range m[1:] {
				args[i] = s
			}
			return t.T(p.key, args...)
		}
	}
	return detail
}

// apiFormError is an API error as a form shows it: the message and the
// per-field messages, in the reader's language.
func (t translator) apiFormError(ae *apiError) (string, map[string]string) {
	fields := make(map[string]string, len(ae.Fields))
	for k, v := range ae.Fields {
		fields[k] = t.API(v)
	}
	return t.API(ae.Detail), fields
}
