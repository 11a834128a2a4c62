package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// UserNameRead names a user to other users: no e-mail, role or status.
type UserNameRead struct {
	ID       string  `json:"id" format:"uuid"`
	Username string  `json:"username"`
	FullName *string `json:"full_name"`
}

// registerAccountRoutes serves what every signed-in user may do about
// accounts: change their own password and name the users behind ids.
func (s *Server) registerAccountRoutes() {
	type passwordInput struct {
		Body struct {
			CurrentPassword string `json:"current_password" minLength:"1" maxLength:"1024" doc:"The caller's password now."`
			NewPassword     string `json:"new_password" minLength:"8" maxLength:"128" doc:"Same rules as an administrator's reset."`
		}
	}
	type passwordOutput struct {
		CacheControl string `header:"Cache-Control"`
		Body         TokenBody
	}
	register(s, sessionOnly(protect(huma.Operation{
		OperationID: "change-own-password", Method: http.MethodPost, Path: APIPrefix + "/auth/password", Tags: []string{tagAuth},
		Summary: "Change your own password (local accounts)",
		Description: "Checks `current_password`, sets `new_password` and revokes every token issued before — other sessions " +
			"are signed out, like after an administrator's reset — and answers with a fresh token for the caller. " +
			"A wrong current password is 400 and counts as a failed login (429 after too many); accounts that sign in " +
			"with Microsoft (Azure AD) have no password here (409).",
		Errors: []int{http.StatusBadRequest, http.StatusConflict, http.StatusTooManyRequests},
	}, authAny)), false, func(ctx context.Context, in *passwordInput) (*passwordOutput, error) {
		tok, err := s.accounts.ChangePassword(ctx, principalFrom(ctx), in.Body.CurrentPassword, in.Body.NewPassword)
		if err != nil {
			return nil, err
		}
		return &passwordOutput{CacheControl: "no-store", Body: TokenBody{AccessToken: tok, TokenType: "bearer"}}, nil
	})

	type directoryInput struct {
		IDs []string `query:"ids" doc:"Comma-separated user ids (at most 100)."`
	}
	type directoryOutput struct {
		Body struct {
			Items []UserNameRead `json:"items"`
		}
	}
	register(s, protect(huma.Operation{
		OperationID: "user-directory", Method: http.MethodGet, Path: APIPrefix + "/users/directory", Tags: []string{tagAuth},
		Summary: "Names of the users behind ids (who started a run, who acted)",
		Description: "Any signed-in caller may resolve ids it has seen on objects it may read; the answer holds only the " +
			"user name and full name of the ids that exist, and the route never lists users.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, authAny), false, func(ctx context.Context, in *directoryInput) (*directoryOutput, error) {
		users, err := s.accounts.Directory(ctx, principalFrom(ctx), in.IDs)
		if err != nil {
			return nil, err
		}
		out := &directoryOutput{}
		out.Body.Items = make([]UserNameRead, 0, len(users))
		for _, u := range users {
			out.Body.Items = append(out.Body.Items, UserNameRead{ID: u.ID, Username: u.Username, FullName: u.FullName})
		}
		return out, nil
	})
}
