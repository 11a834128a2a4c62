package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"automationhub/internal/hub"
)

// statusByKind is the one table that turns an error kind into an HTTP status.
var statusByKind = map[string]int{
	hub.EInvalid:         http.StatusBadRequest,
	hub.EUnauthorized:    http.StatusUnauthorized,
	hub.EForbidden:       http.StatusForbidden,
	hub.ENotFound:        http.StatusNotFound,
	hub.EConflict:        http.StatusConflict,
	hub.ETooLarge:        http.StatusRequestEntityTooLarge,
	hub.EUnprocessable:   http.StatusUnprocessableEntity,
	hub.ETooManyRequests: http.StatusTooManyRequests,
	hub.EUnavailable:     http.StatusServiceUnavailable,
	hub.EInternal:        http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for err's kind.
func StatusOf(err error) int {
	if s, ok := statusByKind[hub.ErrorKind(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is every error response: {"detail": "..."}; request-validation
// failures (422) carry a list of items instead of a string, as the previous
// backend did. An error about several inputs at once (the fields of a
// service form) adds "errors", one item per input; detail is then the
// first item's message.
type ErrorBody struct {
	status int
	// Detail is a message, or for 422 a list of ValidationItem.
	Detail any              `json:"detail"`
	Errors []FieldErrorItem `json:"errors,omitempty"`
	header http.Header
}

// FieldErrorItem is what is wrong with one input: a form field's key or a
// body field's name, and the message.
type FieldErrorItem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationItem describes one invalid request field.
type ValidationItem struct {
	Type  string   `json:"type"`
	Loc   []string `json:"loc"`
	Msg   string   `json:"msg"`
	Input any      `json:"input"`
}

// Error implements error.
func (e *ErrorBody) Error() string {
	if s, ok := e.Detail.(string); ok {
		return s
	}
	return http.StatusText(e.status)
}

// GetStatus implements huma.StatusError.
func (e *ErrorBody) GetStatus() int { return e.status }

// GetHeaders implements huma.HeadersError (e.g. WWW-Authenticate on 401).
func (e *ErrorBody) GetHeaders() http.Header { return e.header }

// Schema documents the detail field as "string or list" in OpenAPI.
func (e *ErrorBody) Schema(r huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeObject,
		Description: "Error response. `detail` is a message, or for 422 a list of invalid fields.",
		Properties: map[string]*huma.Schema{
			"detail": {
				OneOf: []*huma.Schema{
					{Type: huma.TypeString},
					{Type: huma.TypeArray, Items: r.Schema(reflectValidationItem, true, "ValidationItem")},
				},
			},
			"errors": {Type: huma.TypeArray, Items: r.Schema(reflectFieldErrorItem, true, "FieldErrorItem"),
				Description: "Present when several inputs are wrong at once (a service form's fields, a service's JSON documents): one item each; `detail` is the first message."},
		},
		Required: []string{"detail"},
	}
}

// errorBodyFor builds the response for err and logs internal errors once,
// with the request's logger (which carries the request id).
func errorBodyFor(ctx context.Context, err error) *ErrorBody {
	var eb *ErrorBody
	if errors.As(err, &eb) {
		return eb
	}
	status := StatusOf(err)
	if status >= 500 {
		loggerFrom(ctx).ErrorContext(ctx, "request failed", "error", err.Error())
	}
	body := &ErrorBody{status: status, Detail: hub.ErrorMessage(err)}
	for _, f := range hub.ErrorFields(err) {
		body.Errors = append(body.Errors, FieldErrorItem{Field: f.Field, Message: f.Message})
	}
	switch status {
	case http.StatusUnauthorized:
		body.header = http.Header{}
		body.header.Set("WWW-Authenticate", "Bearer")
	case http.StatusTooManyRequests: // the login limiter's window is a minute
		body.header = http.Header{}
		body.header.Set("Retry-After", "60")
	case http.StatusServiceUnavailable: // busy (no password-hashing slot) or a dependency down
		body.header = http.Header{}
		body.header.Set("Retry-After", "5")
	}
	return body
}

// newHumaError replaces huma's error constructor so that every error it
// produces (validation, body parsing, handler errors) has our shape.
func newHumaError(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
	// A handler returned a plain error: huma passes it with status 500.
	if status == http.StatusInternalServerError && len(errs) == 1 {
		var reqCtx context.Context = context.Background()
		if ctx != nil {
			reqCtx = ctx.Context()
		}
		body := errorBodyFor(reqCtx, errs[0])
		if ctx != nil {
			for k, v := range body.header {
				for _, vv := range v {
					ctx.AppendHeader(k, vv)
				}
			}
		}
		return body
	}
	var items []ValidationItem
	for _, e := range errs {
		if e == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(e, &d) {
			det := d.ErrorDetail()
			loc := []string{}
			if det.Location != "" {
				loc = strings.Split(det.Location, ".")
			}
			items = append(items, ValidationItem{Type: "value_error", Loc: loc, Msg: det.Message, Input: det.Value})
			continue
		}
		items = append(items, ValidationItem{Type: "value_error", Loc: []string{}, Msg: e.Error()})
	}
	if status == http.StatusUnprocessableEntity && len(items) > 0 {
		return &ErrorBody{status: status, Detail: items}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if len(items) > 0 {
		msg = msg + ": " + items[0].Msg
	}
	return &ErrorBody{status: status, Detail: msg}
}

func init() {
	// huma builds error responses through these package variables; point them
	// at our constructor so that every error body is {"detail": ...}.
	huma.NewErrorWithContext = newHumaError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newHumaError(nil, status, msg, errs...)
	}
}

// writeError writes err as a JSON error response from a plain http.Handler.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBodyFor(r.Context(), err)
	for k, v := range body.header {
		for _, vv := range v {
			w.Header().Add(k, vv)
		}
	}
	writeJSON(w, body.status, body)
}

// writeDetail writes {"detail": msg} with the given status.
func writeDetail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, &ErrorBody{status: status, Detail: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write response", "error", err)
	}
}

var (
	reflectValidationItem = reflect.TypeFor[ValidationItem]()
	reflectFieldErrorItem = reflect.TypeFor[FieldErrorItem]()
)
