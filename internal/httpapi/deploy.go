package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
)

// deploySubject names the shared DEPLOY_TOKEN in the audit trail (as the
// actor of what it publishes).
const deploySubject = "deploy-token"

func (s *Server) registerDeployRoutes() {
	str := func(desc string) *huma.Schema { return &huma.Schema{Type: huma.TypeString, Description: desc} }
	reg := s.api.OpenAPI().Components.Schemas
	form := &huma.Schema{
		Type: huma.TypeObject,
		Properties: map[string]*huma.Schema{
			"version":           str("SemVer, e.g. 1.2.0 (required)."),
			"channel":           {Type: huma.TypeString, Enum: []any{"stable", "beta", "hotfix"}, Description: "Release channel (default stable)."},
			"changelog":         str("What changed."),
			"artifact":          {Type: huma.TypeString, Format: "binary", Description: "The package: a .zip or a .exe."},
			"entrypoint_path":   str("Path of the entry point inside the ZIP (default from robot.yaml, else main.py)."),
			"entrypoint_type":   {Type: huma.TypeString, Enum: []any{"PYTHON", "EXE"}, Description: "Default from robot.yaml, else PYTHON."},
			"arguments_json":    str(`Base arguments: a JSON array of strings.`),
			"env_vars_json":     str(`Base environment: a JSON object of strings.`),
			"working_directory": str("Folder inside the ZIP to run in."),
			"activate":          str("true (default) makes the new version the active one."),
			"commit_sha":        str("Source commit (required)."),
			"branch":            str("Source branch (required)."),
			"build_url":         str("CI build that produced the package (required)."),
		},
		Required: []string{"version", "artifact", "commit_sha", "branch", "build_url"},
	}
	s.handlePlain(&huma.Operation{
		OperationID: "deploy-publish-robot-version", Method: http.MethodPost, Path: APIPrefix + "/deploy/robots/{robot_id}/versions/publish",
		Tags: []string{tagRobots}, Summary: "Publish a version from CI (multipart upload)",
		Description: "For pipelines. Authenticate with the shared `DEPLOY_TOKEN` in the `x-deploy-token` header (or as " +
			"`Authorization: Bearer`), compared in constant time and valid for every robot; or, better, with an API token (`hub_…`) " +
			"holding `robot.publish` on this robot, e.g. a service account's. The form is the publish form's, but `channel` defaults to " +
			"stable and `commit_sha`, `branch` and `build_url` are required. The version's `created_source` is `github_actions`. " +
			"Errors: 503 `DEPLOY_TOKEN is not configured.` (no API token given and no DEPLOY_TOKEN set), 401 `Invalid deploy token.`.",
		Parameters: []*huma.Param{
			{Name: "robot_id", In: "path", Required: true, Schema: &huma.Schema{Type: huma.TypeString, Format: "uuid"}},
			{Name: "x-deploy-token", In: "header", Schema: &huma.Schema{Type: huma.TypeString}, Description: "DEPLOY_TOKEN, or an API token."},
		},
		Security:    []map[string][]string{{bearerScheme: {}}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"multipart/form-data": {Schema: form}}},
		Responses: map[string]*huma.Response{
			"201": {Description: "The new version.", Content: map[string]*huma.MediaType{"application/json": {Schema: reg.Schema(reflectTypeOf[RobotVersionRead](), true, "RobotVersionRead")}}},
			"400": {Description: "Invalid field or package."}, "401": {Description: "Invalid deploy token."},
			"403": {Description: "The API token may not publish this robot."}, "404": {Description: "Robot not found."},
			"413": {Description: "Package over MAX_ARTIFACT_BYTES."}, "422": {Description: "Missing field."},
			"503": {Description: "DEPLOY_TOKEN is not configured."},
		},
	}, false, http.HandlerFunc(s.deployPublish))
}

// deployPublish authenticates a CI request — an API token, or the shared
// DEPLOY_TOKEN — and publishes its form as a github_actions version.
func (s *Server) deployPublish(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.Header.Get("x-deploy-token"))
	if token == "" {
		token, _ = bearerToken(r.Header.Get("Authorization"))
	}
	var p *hub.Principal
	switch {
	case hub.IsAPIToken(token):
		var err error
		if p, err = s.authenticate(r.Context(), "Bearer "+token); err != nil {
			writeError(w, r, err)
			return
		}
	case s.cfg.DeployToken == "":
		writeError(w, r, hub.Errorf(hub.EUnavailable, "DEPLOY_TOKEN is not configured."))
		return
	case token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.DeployToken)) != 1:
		writeError(w, r, hub.Errorf(hub.EUnauthorized, "Invalid deploy token."))
		return
	default:
		// The shared token may publish every robot, and nothing else.
		p = &hub.Principal{Subject: deploySubject, Role: hub.RoleNone, AuthSource: deploySubject, ClientIP: ClientIP(r.Context()),
			Grants: []hub.Grant{{ResourceType: "robot", Action: hub.PermRobotPublish}}}
	}
	if err := refuseNULRequest(r); err != nil {
		writeError(w, r, err)
		return
	}
	s.publishForm(w, r, p, hub.SourceGitHubActions)
}
