package hub

import (
	"errors"
	"fmt"
)

// Error kinds. Each one maps to exactly one HTTP status in internal/httpapi.
const (
	EInvalid         = "invalid"           // bad input: 400
	EUnauthorized    = "unauthorized"      // no or bad credentials: 401
	EForbidden       = "forbidden"         // authenticated but not allowed: 403
	ENotFound        = "not_found"         // resource does not exist: 404
	EConflict        = "conflict"          // state or uniqueness conflict: 409
	ETooLarge        = "too_large"         // payload over a limit: 413
	EUnprocessable   = "unprocessable"     // well-formed but semantically wrong input: 422
	ETooManyRequests = "too_many_requests" // rate limit hit: 429
	EUnavailable     = "unavailable"       // dependency down or feature not configured: 503
	EInternal        = "internal"          // anything else: 500, generic message to the client
)

// Error is a client-facing error: Kind selects the status, Message is safe to
// show to the caller. Errors that are not *Error are internal.
type Error struct {
	Kind    string
	Message string
	// Fields, when set, says which inputs are wrong and why, one entry
	// per input (see FieldErrors); Message is the first entry's.
	Fields []FieldError
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

// Errorf returns an *Error of the given kind with a formatted, client-safe message.
func Errorf(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err: the kind of the first *Error in its chain,
// or EInternal when there is none. A nil error has no kind ("").
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err: the message of the first
// *Error in its chain, or a generic text for internal errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal server error."
}

// FieldError is what is wrong with one input of a request: a form field's
// key or a body field's name, and a client-safe message.
type FieldError struct {
	Field   string
	Message string
}

// FieldErrors returns an *Error of the given kind that reports several
// inputs at once: its Message is the first one's. errs must not be empty.
func FieldErrors(kind string, errs []FieldError) *Error {
	return &Error{Kind: kind, Message: errs[0].Message, Fields: errs}
}

// ErrorFields returns the per-input errors of the first *Error in err's
// chain, or nil.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// MsgDiskFull is the client-safe message of a write that failed because the
// disk of the database or of the artifact store is full.
const MsgDiskFull = "The hub's disk is full; free space and try again."

// DiskFull marks err, a write that failed for want of disk space, as an
// EUnavailable error with MsgDiskFull. err stays in the chain (for the logs
// and for errors.Is/As).
func DiskFull(err error) error {
	return fmt.Errorf("%w: %w", Errorf(EUnavailable, "%s", MsgDiskFull), err)
}
