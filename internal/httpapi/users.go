package httpapi

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Accounts is what the auth and admin endpoints need from identity.
type Accounts interface {
	Login(ctx context.Context, login, password, clientIP string) (string, error)
	CreateUser(ctx context.Context, p *hub.Principal, in identity.NewUser) (*hub.User, error)
	ListUsers(ctx context.Context, p *hub.Principal, page hub.Page) ([]hub.User, int, error)
	UpdateUser(ctx context.Context, p *hub.Principal, id string, in identity.UserChanges) (*hub.User, error)
	Grants(ctx context.Context, p *hub.Principal, userID string) ([]hub.Grant, error)
	Grant(ctx context.Context, p *hub.Principal, userID string, in identity.NewGrant) (*hub.Grant, error)
	Revoke(ctx context.Context, p *hub.Principal, userID string, grantID int64) error
	AuditEvents(ctx context.Context, p *hub.Principal, f hub.AuditFilter) ([]hub.AuditEvent, hub.ListInfo, error)
	ChangePassword(ctx context.Context, p *hub.Principal, current, next string) (string, error)
	Directory(ctx context.Context, p *hub.Principal, ids []string) ([]hub.User, error)
}

// UserRead is a user as the API shows it (never the password hash).
type UserRead struct {
	ID          string  `json:"id" format:"uuid"`
	Username    string  `json:"username"`
	FullName    *string `json:"full_name"`
	Email       *string `json:"email"`
	IsActive    bool    `json:"is_active"`
	IsSuperuser bool    `json:"is_superuser"`
	Role        string  `json:"role" enum:"None,Viewer,Operator,Maintainer,Admin" doc:"Role stored for the user (superusers act as Admin)."`
	AuthSource  string  `json:"auth_source" enum:"local,azure_ad"`
	// ServiceAccount marks an account for programs (API tokens only).
	ServiceAccount bool      `json:"service_account"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func userRead(u *hub.User) UserRead {
	return UserRead{ID: u.ID, Username: u.Username, FullName: u.FullName, Email: u.Email, IsActive: u.IsActive,
		IsSuperuser: u.IsSuperuser, Role: string(u.Role), AuthSource: u.AuthSource, ServiceAccount: u.ServiceAccount, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// PermissionRead is one grant.
type PermissionRead struct {
	ID           int64     `json:"id"`
	UserID       string    `json:"user_id" format:"uuid"`
	ResourceType string    `json:"resource_type"`
	ResourceID   *string   `json:"resource_id" format:"uuid"`
	ScopeTag     *string   `json:"scope_tag"`
	Action       string    `json:"action"`
	CreatedAt    time.Time `json:"created_at"`
}

func permissionRead(g hub.Grant) PermissionRead {
	return PermissionRead{ID: g.ID, UserID: g.UserID, ResourceType: g.ResourceType, ResourceID: g.ResourceID,
		ScopeTag: g.ScopeTag, Action: string(g.Action), CreatedAt: g.CreatedAt}
}

// TokenBody is the answer of a successful login.
type TokenBody struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type" example:"bearer"`
}

// MessageBody is {"message": "..."}.
type MessageBody struct {
	Message string `json:"message"`
}

const (
	tagAuth  = "Auth"
	tagAdmin = "Admin"
)

func (s *Server) registerIdentityRoutes() {
	s.registerLogin()
	s.registerAccountRoutes()

	type meOutput struct {
		Body struct {
			User        *UserRead `json:"user" doc:"The hub account; null for an Azure AD caller without one."`
			Subject     string    `json:"subject"`
			Role        string    `json:"role"`
			AuthSource  string    `json:"auth_source" enum:"local,azure_ad"`
			Permissions []string  `json:"permissions" doc:"Every permission the caller holds on at least one robot."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "auth-me", Method: http.MethodGet, Path: APIPrefix + "/auth/me", Tags: []string{tagAuth},
		Summary: "Who am I: the caller's account, role and permissions",
	}, authAny), false, func(ctx context.Context, _ *struct{}) (*meOutput, error) {
		p := principalFrom(ctx)
		out := &meOutput{}
		if p.User != nil {
			u := userRead(p.User)
			out.Body.User = &u
		}
		out.Body.Subject, out.Body.Role, out.Body.AuthSource = p.Subject, string(p.Role), p.AuthSource
		out.Body.Permissions = []string{}
		for _, perm := range rbac.Effective(p) {
			out.Body.Permissions = append(out.Body.Permissions, string(perm))
		}
		return out, nil
	})

	type createUserInput struct {
		Body struct {
			Username    string  `json:"username" minLength:"3" maxLength:"128"`
			Password    string  `json:"password" minLength:"8" maxLength:"128"`
			Email       *string `json:"email,omitempty" maxLength:"255" doc:"E-mail address (unique)."`
			FullName    *string `json:"full_name,omitempty" maxLength:"255"`
			IsSuperuser bool    `json:"is_superuser,omitempty"`
			Role        string  `json:"role,omitempty" enum:"None,Viewer,Operator,Maintainer,Admin" doc:"Default Viewer; Admin when is_superuser."`
		}
	}
	type userOutput struct {
		Body UserRead
	}
	register(s, protect(huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: APIPrefix + "/users", Tags: []string{tagAdmin},
		Summary: "Create a local user", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *createUserInput) (*userOutput, error) {
		u, err := s.accounts.CreateUser(ctx, principalFrom(ctx), identity.NewUser{
			Username: in.Body.Username, Password: in.Body.Password, Email: in.Body.Email, FullName: in.Body.FullName,
			IsSuperuser: in.Body.IsSuperuser, Role: hub.Role(in.Body.Role),
		})
		if err != nil {
			return nil, err
		}
		return &userOutput{Body: userRead(u)}, nil
	})

	type listUsersInput struct {
		Skip  int `query:"skip" minimum:"0" default:"0"`
		Limit int `query:"limit" minimum:"1" maximum:"500" default:"100"`
	}
	type listUsersOutput struct {
		Total int `header:"X-Total-Count" doc:"Number of users in all pages."`
		Body  []UserRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-users", Method: http.MethodGet, Path: APIPrefix + "/users", Tags: []string{tagAdmin},
		Summary: "List users, newest first",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *listUsersInput) (*listUsersOutput, error) {
		users, total, err := s.accounts.ListUsers(ctx, principalFrom(ctx), hub.Page{Skip: in.Skip, Limit: in.Limit})
		if err != nil {
			return nil, err
		}
		out := &listUsersOutput{Total: total, Body: make([]UserRead, 0, len(users))}
		for i := range users {
			out.Body = append(out.Body, userRead(&users[i]))
		}
		return out, nil
	})

	type updateUserInput struct {
		UserID string `path:"user_id" format:"uuid"`
		// RawBody lets explicit nulls be told apart from absent fields.
		RawBody []byte
		Body    struct {
			FullName    *string `json:"full_name,omitempty" maxLength:"255" nullable:"true"`
			Email       *string `json:"email,omitempty" maxLength:"255" nullable:"true"`
			Role        *string `json:"role,omitempty" enum:"None,Viewer,Operator,Maintainer,Admin"`
			IsActive    *bool   `json:"is_active,omitempty" doc:"false revokes the user's tokens at once."`
			IsSuperuser *bool   `json:"is_superuser,omitempty"`
			Password    *string `json:"password,omitempty" minLength:"8" maxLength:"128" doc:"Sets a new password and revokes the user's existing tokens."`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "update-user", Method: http.MethodPatch, Path: APIPrefix + "/users/{user_id}", Tags: []string{tagAdmin},
		Summary:     "Edit a user: role, active, name, e-mail, password reset",
		Description: "Only the fields present are changed; `full_name` and `email` may be set to null.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *updateUserInput) (*userOutput, error) {
		var present map[string]json.RawMessage
		if err := json.Unmarshal(in.RawBody, &present); err != nil {
			return nil, hub.Errorf(hub.EInvalid, "Body must be a JSON object.")
		}
		ch := identity.UserChanges{IsActive: in.Body.IsActive, IsSuperuser: in.Body.IsSuperuser, Password: in.Body.Password}
		if _, ok := present["full_name"]; ok {
			ch.FullName = &in.Body.FullName
		}
		if _, ok := present["email"]; ok {
			ch.Email = &in.Body.Email
		}
		if in.Body.Role != nil {
			r := hub.Role(*in.Body.Role)
			ch.Role = &r
		}
		u, err := s.accounts.UpdateUser(ctx, principalFrom(ctx), in.UserID, ch)
		if err != nil {
			return nil, err
		}
		return &userOutput{Body: userRead(u)}, nil
	})

	type userPathInput struct {
		UserID string `path:"user_id" format:"uuid"`
	}
	type grantsOutput struct {
		Body []PermissionRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-user-permissions", Method: http.MethodGet, Path: APIPrefix + "/users/{user_id}/permissions",
		Tags: []string{tagAdmin}, Summary: "List a user's grants",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *userPathInput) (*grantsOutput, error) {
		grants, err := s.accounts.Grants(ctx, principalFrom(ctx), in.UserID)
		if err != nil {
			return nil, err
		}
		out := &grantsOutput{Body: make([]PermissionRead, 0, len(grants))}
		for _, g := range grants {
			out.Body = append(out.Body, permissionRead(g))
		}
		return out, nil
	})

	type grantInput struct {
		UserID string `path:"user_id" format:"uuid"`
		Body   struct {
			ResourceType string  `json:"resource_type" minLength:"1" maxLength:"50" doc:"Must match the action: robot, run, artifact, service, worker or admin."`
			Action       string  `json:"action" minLength:"1" maxLength:"80"`
			ResourceID   *string `json:"resource_id,omitempty" nullable:"true" doc:"Limit the grant to one robot (robot, run and artifact actions)."`
			ScopeTag     *string `json:"scope_tag,omitempty" maxLength:"100" nullable:"true" doc:"Limit the grant to robots carrying this tag."`
		}
	}
	type grantOutput struct {
		Body PermissionRead
	}
	register(s, protect(huma.Operation{
		OperationID: "grant-permission", Method: http.MethodPost, Path: APIPrefix + "/users/{user_id}/permissions",
		Tags: []string{tagAdmin}, Summary: "Grant a permission, optionally for one robot or a robot tag",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *grantInput) (*grantOutput, error) {
		g, err := s.accounts.Grant(ctx, principalFrom(ctx), in.UserID, identity.NewGrant{
			ResourceType: in.Body.ResourceType, Action: in.Body.Action, ResourceID: in.Body.ResourceID, ScopeTag: in.Body.ScopeTag,
		})
		if err != nil {
			return nil, err
		}
		return &grantOutput{Body: permissionRead(*g)}, nil
	})

	type revokeInput struct {
		UserID       string `path:"user_id" format:"uuid"`
		PermissionID int64  `path:"permission_id" minimum:"1"`
	}
	type messageOutput struct {
		Body MessageBody
	}
	register(s, protect(huma.Operation{
		OperationID: "revoke-permission", Method: http.MethodDelete, Path: APIPrefix + "/users/{user_id}/permissions/{permission_id}",
		Tags: []string{tagAdmin}, Summary: "Revoke a grant", Errors: []int{http.StatusNotFound},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *revokeInput) (*messageOutput, error) {
		if err := s.accounts.Revoke(ctx, principalFrom(ctx), in.UserID, in.PermissionID); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Permission revoked successfully."}}, nil
	})

	type auditInput struct {
		Action      string    `query:"action"`
		ActorUserID string    `query:"actor_user_id"`
		TargetType  string    `query:"target_type"`
		TargetID    string    `query:"target_id"`
		Since       time.Time `query:"since" doc:"Only events at or after this time (RFC 3339)."`
		Until       time.Time `query:"until" doc:"Only events before this time (RFC 3339)."`
		Skip        int       `query:"skip" minimum:"0" default:"0" doc:"Events to skip, from the start or from the cursor."`
		Limit       int       `query:"limit" minimum:"1" maximum:"500" default:"100"`
		Before      string    `query:"before" maxLength:"200" doc:"A next_cursor: the events before that place (the following page)."`
		After       string    `query:"after" maxLength:"200" doc:"A prev_cursor: the events after that place (the preceding page), still newest first."`
	}
	type auditRead struct {
		ID           int64          `json:"id"`
		ActorUserID  *string        `json:"actor_user_id"`
		ActorSubject *string        `json:"actor_subject"`
		Action       string         `json:"action"`
		TargetType   *string        `json:"target_type"`
		TargetID     *string        `json:"target_id"`
		Metadata     map[string]any `json:"metadata_json"`
		IP           *string        `json:"ip"`
		CreatedAt    time.Time      `json:"created_at"`
	}
	type auditOutput struct {
		Body struct {
			Items []auditRead `json:"items"`
			listMeta
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "list-audit-events", Method: http.MethodGet, Path: APIPrefix + "/audit-events", Tags: []string{tagAdmin},
		Summary: "Audit trail, newest first, with filters",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *auditInput) (*auditOutput, error) {
		page, err := listPage(in.Skip, in.Limit, in.Before, in.After)
		if err != nil {
			return nil, err
		}
		f := hub.AuditFilter{Action: in.Action, ActorUserID: in.ActorUserID, TargetType: in.TargetType, TargetID: in.TargetID,
			Page: page}
		if !in.Since.IsZero() {
			t := in.Since.UTC()
			f.Since = &t
		}
		if !in.Until.IsZero() {
			t := in.Until.UTC()
			f.Until = &t
		}
		events, info, err := s.accounts.AuditEvents(ctx, principalFrom(ctx), f)
		if err != nil {
			return nil, err
		}
		out := &auditOutput{}
		out.Body.listMeta = newListMeta(info)
		out.Body.Items = make([]auditRead, 0, len(events))
		for _, e := range events {
			out.Body.Items = append(out.Body.Items, auditRead{ID: e.ID, ActorUserID: e.ActorUserID, ActorSubject: e.ActorSubject,
				Action: e.Action, TargetType: optional(e.TargetType), TargetID: optional(e.TargetID), Metadata: e.Metadata,
				IP: e.IP, CreatedAt: e.CreatedAt})
		}
		return out, nil
	})
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// registerLogin serves the OAuth2 password form (x-www-form-urlencoded or
// multipart), which huma does not parse, as a documented plain handler.
func (s *Server) registerLogin() {
	formSchema := &huma.Schema{
		Type: huma.TypeObject,
		Properties: map[string]*huma.Schema{
			"username":      {Type: huma.TypeString, Description: "User name or e-mail address."},
			"password":      {Type: huma.TypeString, Format: "password"},
			"grant_type":    {Type: huma.TypeString, Enum: []any{"password"}},
			"scope":         {Type: huma.TypeString},
			"client_id":     {Type: huma.TypeString},
			"client_secret": {Type: huma.TypeString},
		},
		Required: []string{"username", "password"},
	}
	reg := s.api.OpenAPI().Components.Schemas
	errSchema := reg.Schema(reflectErrorBody, true, "ErrorBody")
	errResp := func(desc string) *huma.Response {
		return &huma.Response{Description: desc, Content: map[string]*huma.MediaType{"application/json": {Schema: errSchema}}}
	}
	s.handlePlain(&huma.Operation{
		OperationID: "auth-token", Method: http.MethodPost, Path: APIPrefix + "/auth/token", Tags: []string{tagAuth},
		Summary: "Log in with a user name (or e-mail) and password; returns a bearer token",
		Description: "OAuth2 password form. At most 10 failed attempts per minute per client address and per user name; " +
			"beyond that the answer is 429 with Retry-After. Failed attempts are audited (`auth.login_failed`: the name tried " +
			"and the client address, never the password).",
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/x-www-form-urlencoded": {Schema: formSchema},
			"multipart/form-data":               {Schema: formSchema},
		}},
		Responses: map[string]*huma.Response{
			"200": {Description: "Access token.", Content: map[string]*huma.MediaType{"application/json": {Schema: reg.Schema(reflectTokenBody, true, "TokenBody")}}},
			"400": errResp("Invalid username or password."),
			"403": errResp("Inactive user, or local authentication is disabled."),
			"422": errResp("Missing or malformed form fields."),
			"429": errResp("Too many failed attempts."),
		},
	}, true, http.HandlerFunc(s.login))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch ct {
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case "multipart/form-data":
		err = r.ParseMultipartForm(64 << 10)
	default:
		writeJSON(w, http.StatusUnprocessableEntity, &ErrorBody{status: http.StatusUnprocessableEntity, Detail: []ValidationItem{{
			Type: "value_error", Loc: []string{"body"}, Msg: "expected an application/x-www-form-urlencoded or multipart/form-data body",
		}}})
		return
	}
	if err != nil {
		writeDetail(w, http.StatusBadRequest, "Malformed form body.")
		return
	}
	if err := refuseNULValues(r.PostForm); err != nil {
		writeError(w, r, err)
		return
	}
	var problems []ValidationItem
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	for field, v := range map[string]string{"username": username, "password": password} {
		if v == "" {
			problems = append(problems, ValidationItem{Type: "missing", Loc: []string{"body", field}, Msg: "Field required"})
		}
	}
	if gt := r.PostFormValue("grant_type"); r.PostForm.Has("grant_type") && gt != "" && gt != "password" {
		problems = append(problems, ValidationItem{Type: "string_pattern_mismatch", Loc: []string{"body", "grant_type"},
			Msg: "String should match pattern '^password$'", Input: gt})
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, &ErrorBody{status: http.StatusUnprocessableEntity, Detail: problems})
		return
	}
	token, err := s.accounts.Login(r.Context(), username, password, ClientIP(r.Context()))
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, TokenBody{AccessToken: token, TokenType: "bearer"})
}

var (
	reflectErrorBody = reflect.TypeFor[ErrorBody]()
	reflectTokenBody = reflect.TypeFor[TokenBody]()
)

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
