package justpay

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status code; nothing else should be needed to
// decide how a failure is reported.
const (
	EINVALID       = "invalid"            // the request is malformed or breaks a documented limit
	EUNAUTHORIZED  = "unauthorized"       // no or bad credentials
	EFORBIDDEN     = "forbidden"          // authenticated, but not allowed (for example not activated)
	ENOTFOUND      = "not_found"          // no such object, or not visible to the caller
	ECONFLICT      = "conflict"           // the object is in a state that does not allow the action
	EINSUFFICIENT  = "insufficient_funds" // the available balance does not cover the action
	EUNPROCESSABLE = "unprocessable"      // an Idempotency-Key reused with a different request
	ERATELIMITED   = "rate_limited"       // too many requests
	EINTERNAL      = "internal"           // a bug or an outage; details go to the log only
)

// Error is the one error type of the domain: a code from the list above and a message that is safe
// to show to the caller.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("justpay: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any other error, and ""
// for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the *Error's message, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	}
	return "internal error"
}
