package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
	"automationhub/internal/identity"
	"automationhub/internal/rbac"
)

// Authenticator turns a bearer token into the caller's principal.
type Authenticator interface {
	Authenticate(ctx context.Context, raw, clientIP string) (*hub.Principal, error)
}

// Operation metadata keys that drive the auth middleware.
const (
	metaAuth = "hub.auth" // "any" (any authenticated caller) or a hub.Permission
	authAny  = "any"
	// metaSession marks operations a request made with an API token may not
	// call (managing tokens, passwords): a leaked token must not mint others.
	metaSession = "hub.session"
)

// msgSessionOnly answers an API token on a session-only operation.
const msgSessionOnly = "API tokens cannot do this: sign in as the user."

const bearerScheme = "bearer"

type principalKey struct{}

// principalFrom returns the authenticated caller of a protected operation.
func principalFrom(ctx context.Context) *hub.Principal {
	p, _ := ctx.Value(principalKey{}).(*hub.Principal)
	return p
}

// bearerToken extracts the token of an "Authorization: Bearer …" header.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// authenticate resolves the principal of a request; errors are hub errors.
func (s *Server) authenticate(ctx context.Context, authorization string) (*hub.Principal, error) {
	if s.auth == nil {
		return nil, hub.Errorf(hub.EUnavailable, "Authentication is not configured.")
	}
	token, ok := bearerToken(authorization)
	if !ok {
		return nil, hub.Errorf(hub.EUnauthorized, "Not authenticated")
	}
	return s.auth.Authenticate(ctx, token, ClientIP(ctx))
}

// authMiddleware runs before a protected operation reads its input, so an
// unauthenticated caller gets 401 and one without the permission 403 even
// when the request body is invalid (the previous backend's check order).
// The exact, robot-scoped decision is made by the capability layer.
func (s *Server) authMiddleware(ctx huma.Context, next func(huma.Context)) {
	if agentOnly, _ := ctx.Operation().Metadata[metaAgent].(bool); agentOnly {
		a, err := s.agentFrom(ctx.Context(), ctx.Header("Authorization"))
		if err != nil {
			body := errorBodyFor(ctx.Context(), err)
			_ = huma.WriteErr(s.api, ctx, body.status, body.Detail.(string))
			return
		}
		next(huma.WithValue(ctx, agentKey{}, a))
		return
	}
	need, _ := ctx.Operation().Metadata[metaAuth].(string)
	if need == "" {
		next(ctx)
		return
	}
	p, err := s.authenticate(ctx.Context(), ctx.Header("Authorization"))
	if err == nil && !holds(p, need) {
		err = hub.Errorf(hub.EForbidden, identity.MsgForbidden)
	}
	if session, _ := ctx.Operation().Metadata[metaSession].(bool); err == nil && session && p.Token != nil {
		err = hub.Errorf(hub.EForbidden, msgSessionOnly)
	}
	if err != nil {
		body := errorBodyFor(ctx.Context(), err)
		for k, v := range body.header {
			for _, vv := range v {
				ctx.AppendHeader(k, vv)
			}
		}
		_ = huma.WriteErr(s.api, ctx, body.status, body.Detail.(string))
		return
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}

// requireAuth wraps a plain handler with the same checks as authMiddleware,
// and refuses a NUL character in the path or query as register does.
func (s *Server) requireAuth(need string, h func(http.ResponseWriter, *http.Request, *hub.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r.Context(), r.Header.Get("Authorization"))
		if err == nil && !holds(p, need) {
			err = hub.Errorf(hub.EForbidden, identity.MsgForbidden)
		}
		if err == nil {
			err = refuseNULRequest(r)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r, p)
	})
}

// holds reports whether p meets a requirement: authAny, a permission, or
// several permissions separated by "|" (any of them).
func holds(p *hub.Principal, need string) bool {
	if need == authAny {
		return true
	}
	for _, perm := range strings.Split(need, "|") {
		if rbac.Has(p, hub.Permission(perm)) {
			return true
		}
	}
	return false
}

// protect marks an operation as needing authentication (need = authAny) or a
// permission, and documents the bearer scheme and the 401/403 answers.
func protect(op huma.Operation, need string) huma.Operation {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[metaAuth] = need
	op.Security = []map[string][]string{{bearerScheme: {}}}
	op.Errors = append(op.Errors, http.StatusUnauthorized)
	if need != authAny {
		op.Errors = append(op.Errors, http.StatusForbidden)
		if op.Description != "" {
			op.Description += "\n\n"
		}
		op.Description += "Requires permission `" + strings.ReplaceAll(need, "|", "` or `") + "`."
	}
	return op
}

// sessionOnly marks a protected operation as refused to API tokens.
func sessionOnly(op huma.Operation) huma.Operation {
	op.Metadata[metaSession] = true
	op.Description += "\n\nNot with an API token: sign in as the user."
	return op
}
