package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/justpay/justpay"
)

// MaxBodyBytes caps every request body; a larger one is answered with 413.
const MaxBodyBytes = 1 << 20

var errBodyTooLarge = &justpay.Error{Code: codeTooLarge, Message: "request body too large (limit 1 MiB)"}

// readBody reads the whole request body, at most MaxBodyBytes, and checks its Content-Type:
// absent, application/json, or application/x-www-form-urlencoded, which is what `curl -d` sends
// by default; the body must be JSON whatever the header says. A body that is too large is
// errBodyTooLarge.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errBodyTooLarge
		}
		return nil, justpay.Errorf(justpay.EINVALID, "could not read request body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/json" && mt != "application/x-www-form-urlencoded") {
				return nil, justpay.Errorf(codeUnsupportedMedia, "Content-Type must be application/json")
			}
		}
	}
	return body, nil
}

// decode reads the request body into v strictly (see decodeJSON). The body is required.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

// decodeOptional is decode for endpoints whose body may be left out entirely; v is then untouched.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeJSON(body, v)
}

// decodeNone checks the body of an endpoint that takes none: it must be empty or {}.
func decodeNone(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeEmptyJSON(body)
}

// decodeEmptyJSON accepts an empty body or an empty JSON object, and nothing else.
func decodeEmptyJSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := decodeJSON(body, &struct{}{}); err != nil {
		return justpay.Errorf(justpay.EINVALID, "this endpoint takes no request body: send nothing or {} (%s)", justpay.ErrorMessage(err))
	}
	return nil
}

// decodeJSON decodes body into v, which must point to a struct: exactly one JSON object, no
// unknown fields, every value of the right type. Every failure is EINVALID with a message that
// names the field at fault.
func decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return justpay.Errorf(justpay.EINVALID, "request body is required: send a JSON object")
	}
	if trimmed[0] != '{' {
		return justpay.Errorf(justpay.EINVALID, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return justpay.Errorf(justpay.EINVALID, "request body must hold a single JSON object, with nothing after it")
	}
	return nil
}

// decodeError turns an encoding/json error into an EINVALID error naming the field.
func decodeError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntaxErr):
		return justpay.Errorf(justpay.EINVALID, "request body is not valid JSON: %s (at byte %d)",
			strings.TrimPrefix(syntaxErr.Error(), "json: "), syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return justpay.Errorf(justpay.EINVALID, "request body is not valid JSON: unexpected end of input")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return justpay.Errorf(justpay.EINVALID, "request body must be a JSON object")
		}
		if typeErr.Type == microAmountType {
			// microAmount puts its reason in Value; json fills in Field.
			return justpay.Errorf(justpay.EINVALID, "%s %s", typeErr.Field, typeErr.Value)
		}
		return justpay.Errorf(justpay.EINVALID, "%s must be %s", typeErr.Field, jsonKind(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for DisallowUnknownFields; this text is its documented form.
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return justpay.Errorf(justpay.EINVALID, "unknown field %s", field)
	}
	var e *justpay.Error
	if errors.As(err, &e) && e.Code == justpay.EINVALID {
		return e
	}
	return justpay.Errorf(justpay.EINVALID, "request body is not valid JSON")
}

// jsonKind names, for people, the JSON form a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "a JSON object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a valid value"
}

// microAmount is an amount of money in a request: a JSON integer of micro-units (1 USDC =
// 1,000,000), written as plain digits. Fractions (1.5), exponents (1e6), signs, strings and values
// beyond int64 are refused with a message naming the field. Zero is accepted here; endpoints that
// need a positive amount check it.
type microAmount int64

var microAmountType = reflect.TypeFor[microAmount]()

// UnmarshalJSON implements json.Unmarshaler over the raw number token.
func (a *microAmount) UnmarshalJSON(data []byte) error {
	tok := string(data)
	if tok == "null" {
		return nil // like json itself: null leaves the value alone
	}
	reason := ""
	switch {
	case strings.HasPrefix(tok, `"`):
		reason = "must be a JSON number of micro-units, not a string (1 USDC = 1000000)"
	case tok == "true" || tok == "false" || strings.HasPrefix(tok, "{") || strings.HasPrefix(tok, "["):
		reason = "must be a whole number of micro-units (1 USDC = 1000000)"
	case strings.HasPrefix(tok, "-"):
		reason = "must not be negative"
	case strings.ContainsAny(tok, "eE"):
		reason = fmt.Sprintf("must be written as plain digits without an exponent, got %s", tok)
	case strings.Contains(tok, "."):
		reason = fmt.Sprintf("must be a whole number of micro-units without a fraction (1 USDC = 1000000), got %s", tok)
	}
	if reason == "" {
		n, err := strconv.ParseInt(tok, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			reason = fmt.Sprintf("is too large (at most %d micro-units)", int64(math.MaxInt64))
		case err != nil:
			reason = "must be a whole number of micro-units (1 USDC = 1000000)"
		default:
			*a = microAmount(n)
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: reason, Type: microAmountType}
}

// requirePositive checks that a required amount is present and above zero.
func requirePositive(field string, a *microAmount) (int64, error) {
	if a == nil {
		return 0, justpay.Errorf(justpay.EINVALID, "%s is required: a positive whole number of micro-units (1 USDC = 1000000)", field)
	}
	if *a <= 0 {
		return 0, justpay.Errorf(justpay.EINVALID, "%s must be greater than zero", field)
	}
	return int64(*a), nil
}

// nullable is an optional field of a PATCH body that tells apart "absent" (Set false), "null"
// (Set and Null) and a value.
type nullable[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON implements json.Unmarshaler; it is called only for fields present in the body.
func (n *nullable[T]) UnmarshalJSON(data []byte) error {
	n.Set = true
	if string(data) == "null" {
		n.Null = true
		return nil
	}
	return json.Unmarshal(data, &n.Value)
}
