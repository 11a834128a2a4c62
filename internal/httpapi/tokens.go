package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/identity"
)

// Tokens is what the API token and service account endpoints need
// (identity.Service).
type Tokens interface {
	CreateToken(ctx context.Context, p *hub.Principal, in identity.NewToken) (*hub.APIToken, string, error)
	CreateServiceAccountToken(ctx context.Context, p *hub.Principal, accountID string, in identity.NewToken) (*hub.APIToken, string, error)
	Tokens(ctx context.Context, p *hub.Principal, userID string, all bool) ([]hub.APIToken, error)
	RevokeToken(ctx context.Context, p *hub.Principal, id string) error
	CreateServiceAccount(ctx context.Context, p *hub.Principal, in identity.NewServiceAccount) (*hub.User, error)
	ServiceAccounts(ctx context.Context, p *hub.Principal) ([]hub.User, error)
}

// TokenRead is an API token as the API shows it: never the token itself
// (only its first characters, hint), except once, when it is created.
type TokenRead struct {
	ID          string     `json:"id" format:"uuid"`
	UserID      string     `json:"user_id" format:"uuid"`
	Name        string     `json:"name"`
	Hint        string     `json:"hint" doc:"The token's first characters, to recognise it."`
	Permissions []string   `json:"permissions"`
	RobotID     *string    `json:"robot_id" format:"uuid" doc:"The one robot the token acts on; null: any."`
	ScopeTag    *string    `json:"scope_tag" doc:"The token acts on robots with this tag only; null: any."`
	ExpiresAt   *time.Time `json:"expires_at" doc:"Null: never."`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   *string    `json:"created_by" format:"uuid"`
	LastUsedAt  *time.Time `json:"last_used_at" doc:"Recorded at most once a minute."`
}

func tokenRead(t *hub.APIToken) TokenRead {
	out := TokenRead{ID: t.ID, UserID: t.UserID, Name: t.Name, Hint: t.Hint, Permissions: make([]string, len(t.Permissions)),
		RobotID: t.RobotID, ScopeTag: t.ScopeTag, ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, LastUsedAt: t.LastUsedAt}
	for i, p := range t.Permissions {
		out.Permissions[i] = string(p)
	}
	return out
}

// TokenCreated is a new API token, the only answer that holds the token.
type TokenCreated struct {
	TokenRead
	Token string `json:"token" doc:"The token: shown this once, store it now. Use it as Authorization: Bearer <token>."`
}

const tagTokens = "Tokens"

func (s *Server) registerTokenRoutes() {
	// Every operation below is unavailable when the server has no Tokens.
	tokens := func() (Tokens, error) {
		if s.tokens == nil {
			return nil, hub.Errorf(hub.EUnavailable, "API tokens are not available on this server.")
		}
		return s.tokens, nil
	}
	type newTokenBody struct {
		Name          string     `json:"name" minLength:"1" maxLength:"200"`
		Permissions   []string   `json:"permissions" minItems:"1" maxItems:"20" doc:"A subset of what the owner holds (within the scope)."`
		RobotID       *string    `json:"robot_id,omitempty" nullable:"true" format:"uuid" doc:"Narrow the token to one robot."`
		ScopeTag      *string    `json:"scope_tag,omitempty" nullable:"true" maxLength:"100" doc:"Narrow the token to robots with this tag."`
		ExpiresAt     *time.Time `json:"expires_at,omitempty" nullable:"true" doc:"When it stops working; omitted and no expires_in_days: never."`
		ExpiresInDays *int       `json:"expires_in_days,omitempty" nullable:"true" minimum:"1" maximum:"3650" doc:"Alternative to expires_at."`
	}
	newToken := func(b newTokenBody) identity.NewToken {
		in := identity.NewToken{Name: b.Name, RobotID: b.RobotID, ScopeTag: b.ScopeTag, ExpiresAt: b.ExpiresAt}
		if in.ExpiresAt == nil && b.ExpiresInDays != nil {
			at := time.Now().UTC().Add(time.Duration(*b.ExpiresInDays) * 24 * time.Hour)
			in.ExpiresAt = &at
		}
		for _, p := range b.Permissions {
			in.Permissions = append(in.Permissions, hub.Permission(p))
		}
		return in
	}
	type createInput struct {
		Body newTokenBody
	}
	type createdOutput struct {
		Body TokenCreated
	}
	register(s, sessionOnly(protect(huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: APIPrefix + "/tokens", Tags: []string{tagTokens},
		Summary: "Create an API token of your own",
		Description: "The token (`hub_…`) is in the answer once; only its SHA-256 is stored. It works as `Authorization: Bearer` " +
			"wherever a sign-in token does, with the listed permissions only, as far as you still hold them, within its robot or tag. " +
			"Audited (`api_token.created`).",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, authAny)), false, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		ts, err := tokens()
		if err != nil {
			return nil, err
		}
		t, tok, err := ts.CreateToken(ctx, principalFrom(ctx), newToken(in.Body))
		if err != nil {
			return nil, err
		}
		return &createdOutput{Body: TokenCreated{TokenRead: tokenRead(t), Token: tok}}, nil
	})

	type listInput struct {
		UserID string `query:"user_id" doc:"Administrators: another user's tokens."`
		All    bool   `query:"all" doc:"Administrators: every user's tokens."`
	}
	type listOutput struct {
		Body []TokenRead
	}
	register(s, sessionOnly(protect(huma.Operation{
		OperationID: "list-tokens", Method: http.MethodGet, Path: APIPrefix + "/tokens", Tags: []string{tagTokens},
		Summary:     "Your API tokens, newest first (administrators: anyone's)",
		Description: "With when each was last used.",
	}, authAny)), false, func(ctx context.Context, in *listInput) (*listOutput, error) {
		ts, err := tokens()
		if err != nil {
			return nil, err
		}
		list, err := ts.Tokens(ctx, principalFrom(ctx), in.UserID, in.All)
		if err != nil {
			return nil, err
		}
		out := &listOutput{Body: make([]TokenRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, tokenRead(&list[i]))
		}
		return out, nil
	})

	type revokeInput struct {
		TokenID string `path:"token_id" doc:"Token id (UUID)."`
	}
	type messageOutput struct {
		Body MessageBody
	}
	register(s, sessionOnly(protect(huma.Operation{
		OperationID: "revoke-token", Method: http.MethodDelete, Path: APIPrefix + "/tokens/{token_id}", Tags: []string{tagTokens},
		Summary:     "Revoke an API token at once (yours; administrators: anyone's)",
		Description: "Audited (`api_token.revoked`).",
		Errors:      []int{http.StatusNotFound},
	}, authAny)), false, func(ctx context.Context, in *revokeInput) (*messageOutput, error) {
		ts, err := tokens()
		if err != nil {
			return nil, err
		}
		if err := ts.RevokeToken(ctx, principalFrom(ctx), in.TokenID); err != nil {
			return nil, err
		}
		return &messageOutput{Body: MessageBody{Message: "Token revoked."}}, nil
	})

	type accountInput struct {
		Body struct {
			Username string  `json:"username" minLength:"3" maxLength:"128"`
			FullName *string `json:"full_name,omitempty" maxLength:"255" nullable:"true"`
			Role     string  `json:"role,omitempty" enum:"None,Viewer,Operator,Maintainer,Admin" doc:"Default None: the account holds only what it is granted."`
		}
	}
	type accountOutput struct {
		Body UserRead
	}
	register(s, protect(huma.Operation{
		OperationID: "create-service-account", Method: http.MethodPost, Path: APIPrefix + "/service-accounts", Tags: []string{tagTokens},
		Summary: "Create a service account",
		Description: "An account for programs (CI, schedulers): no password, it authenticates only with the API tokens an administrator " +
			"makes for it. Give it rights with grants (`POST /users/{id}/permissions`), deactivate it with `PATCH /users/{id}`.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, in *accountInput) (*accountOutput, error) {
		ts, err := tokens()
		if err != nil {
			return nil, err
		}
		u, err := ts.CreateServiceAccount(ctx, principalFrom(ctx), identity.NewServiceAccount{Username: in.Body.Username,
			FullName: in.Body.FullName, Role: hub.Role(in.Body.Role)})
		if err != nil {
			return nil, err
		}
		return &accountOutput{Body: userRead(u)}, nil
	})

	type accountsOutput struct {
		Body []UserRead
	}
	register(s, protect(huma.Operation{
		OperationID: "list-service-accounts", Method: http.MethodGet, Path: APIPrefix + "/service-accounts", Tags: []string{tagTokens},
		Summary: "The service accounts, by name",
	}, string(hub.PermAdminManage)), false, func(ctx context.Context, _ *struct{}) (*accountsOutput, error) {
		ts, err := tokens()
		if err != nil {
			return nil, err
		}
		list, err := ts.ServiceAccounts(ctx, principalFrom(ctx))
		if err != nil {
			return nil, err
		}
		out := &accountsOutput{Body: make([]UserRead, 0, len(list))}
		for i := range list {
			out.Body = append(out.Body, userRead(&list[i]))
		}
		return out, nil
	})

	type accountTokenInput struct {
		UserID string `path:"user_id" doc:"The service account's user id."`
		Body   newTokenBody
	}
	register(s, sessionOnly(protect(huma.Operation{
		OperationID: "create-service-account-token", Method: http.MethodPost, Path: APIPrefix + "/service-accounts/{user_id}/tokens",
		Tags: []string{tagTokens}, Summary: "Create an API token of a service account",
		Description:   "Its permissions must be ones the account holds (within the scope). The token is in the answer once.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusBadRequest, http.StatusNotFound},
	}, string(hub.PermAdminManage))), false, func(ctx context.Context, in *accountTokenInput) (*createdOutput, error) {
		ts, err := tokens()
		if err != nil {
			return nil, err
		}
		t, tok, err := ts.CreateServiceAccountToken(ctx, principalFrom(ctx), in.UserID, newToken(in.Body))
		if err != nil {
			return nil, err
		}
		return &createdOutput{Body: TokenCreated{TokenRead: tokenRead(t), Token: tok}}, nil
	})
}
