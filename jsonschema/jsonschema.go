// Package jsonschema checks the JSON Schemas that agents attach to their services and validates
// documents against them, through github.com/santhosh-tekuri/jsonschema/v6. It never reads a file
// or the network: only references inside the schema itself resolve.
package jsonschema

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	js "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/justpay/justpay"
)

// Bounds of the cache of a Compiler made by New: at most DefaultCacheSize compiled schemas, of
// at most DefaultCacheBytes of JSON together. A compiled schema takes some 80 times the memory of
// its JSON (5 MB for one of 64 KiB), so the byte bound is the one that keeps memory in check
// when schemas are large: about 80 MB at most.
const (
	DefaultCacheSize  = 1024
	DefaultCacheBytes = 1 << 20
)

// baseURL names the schema being compiled. Relative references resolve against it and are then
// refused like any other outside reference; it never appears in messages.
const baseURL = "https://schema.justpay.invalid/schema.json"

// Compiler compiles user JSON Schemas and validates documents against them. It keeps the most
// recently used compiled schemas, keyed by the SHA-256 of their bytes, so that a service's schema
// is compiled once rather than on every job. It is safe for concurrent use.
type Compiler struct {
	mu       sync.Mutex
	max      int // entries
	maxBytes int // of JSON, over all entries
	bytes    int
	entries  map[[sha256.Size]byte]*list.Element // of *compiled
	recent   *list.List                          // most recently used first
}

// compiled is a schema ready to validate with, and the cost bound of a validation.
type compiled struct {
	key    [sha256.Size]byte
	size   int // of the schema's JSON
	schema *js.Schema
	// steps[j] bounds how many subschemas are evaluated at one value at depth j of a document.
	steps [levels]int64
}

// New returns a Compiler that caches up to DefaultCacheSize compiled schemas of at most
// DefaultCacheBytes of JSON together.
func New() *Compiler {
	return &Compiler{max: DefaultCacheSize, maxBytes: DefaultCacheBytes, entries: map[[sha256.Size]byte]*list.Element{}, recent: list.New()}
}

// Check reports EINVALID unless schema is a JSON object or boolean of at most
// justpay.MaxSchemaBytes, nested at most justpay.MaxSchemaDepth deep, that compiles as a JSON
// Schema (draft 2020-12 unless its $schema names another draft the library knows), refers only
// to locations inside itself, and does not apply more than maxInPlace subschemas to one value
// or refer to itself at the same value. The message says what is wrong without naming the
// schema; the caller does.
func (c *Compiler) Check(schema json.RawMessage) error {
	_, err := c.compile(schema)
	return err
}

// Validate reports EINVALID unless doc is JSON, nested at most justpay.MaxSchemaDepth deep, that
// satisfies schema. The message lists each failing location in doc as a JSON Pointer with a
// short reason ("/maxBullets: got string, want number; /text: missing property"), within about
// 1 KB; the caller prefixes which document it is about. A document whose validation could take
// more than maxSteps steps is refused unchecked. A schema that Check refuses is refused the
// same way.
func (c *Compiler) Validate(schema, doc json.RawMessage) error {
	sch, err := c.compile(schema)
	if err != nil {
		return err
	}
	v, perDepth, err := decode(doc, 0)
	if err != nil {
		return err
	}
	var steps int64
	for j, n := range perDepth {
		steps = min(steps+n*sch.steps[j], maxSteps+1) // n is below len(doc): no overflow
	}
	if steps > maxSteps {
		return justpay.Errorf(justpay.EINVALID, "too large to check against this schema (more than %d steps)", maxSteps)
	}
	err = guard(func() error { return sch.schema.Validate(v) })
	var verr *js.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		return justpay.Errorf(justpay.EINVALID, "%s", describe(verr))
	case errors.Is(err, errPanic):
		return err
	}
	return justpay.Errorf(justpay.EINVALID, "cannot be checked: %s", truncate(local(err.Error()), 300))
}

// compile returns the compiled schema from the cache, or compiles, vets and caches it.
func (c *Compiler) compile(raw json.RawMessage) (*compiled, error) {
	key := sha256.Sum256(raw)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.recent.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*compiled), nil
	}
	c.mu.Unlock()

	sch, err := compile(raw)
	if err != nil {
		return nil, err
	}
	sch.key, sch.size = key, len(raw)

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok { // compiled concurrently by another caller
		c.recent.MoveToFront(el)
		return el.Value.(*compiled), nil
	}
	c.entries[key] = c.recent.PushFront(sch)
	c.bytes += sch.size
	for c.recent.Len() > c.max || c.bytes > c.maxBytes {
		oldest := c.recent.Remove(c.recent.Back()).(*compiled)
		delete(c.entries, oldest.key)
		c.bytes -= oldest.size
	}
	return sch, nil
}

// cached reports how many compiled schemas the cache holds, and their bytes of JSON.
func (c *Compiler) cached() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recent.Len(), c.bytes
}

// compile turns raw into a compiled schema, with a compiler of its own: the library's compiler
// accumulates resources and is not safe for concurrent use.
func compile(raw json.RawMessage) (*compiled, error) {
	doc, _, err := decode(raw, justpay.MaxSchemaBytes)
	if err != nil {
		return nil, err
	}
	obj, isObject := doc.(map[string]any)
	if _, isBool := doc.(bool); !isObject && !isBool {
		return nil, justpay.Errorf(justpay.EINVALID, "must be a JSON object or boolean")
	}
	c := js.NewCompiler()
	c.DefaultDraft(js.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(baseURL, doc); err != nil {
		return nil, fmt.Errorf("jsonschema: add resource: %w", err)
	}
	var sch *js.Schema
	err = guard(func() (err error) {
		sch, err = c.Compile(baseURL)
		return err
	})
	if errors.Is(err, errPanic) {
		return nil, err
	} else if err != nil {
		return nil, compileError(err, obj)
	}
	steps, err := stepsPerDepth(sch)
	if err != nil {
		return nil, err
	}
	if steps[0] > maxInPlace {
		return nil, justpay.Errorf(justpay.EINVALID, "too complex: one value could be checked against more than %d subschemas", maxInPlace)
	}
	return &compiled{schema: sch, steps: steps}, nil
}

var errPanic = errors.New("jsonschema: the library panicked")

// guard runs a call into the library, turning a panic (a bug there, on input it should have
// refused) into an internal error instead of a crash of the caller's goroutine.
func guard(call func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return call()
}

// refuseLoader is the compiler's only loader: it refuses every URL, so remote (http, https) and
// file references, and relative ones that resolve to them, fail to compile. The drafts'
// metaschemas are embedded in the library and never reach a loader.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) { return nil, errRefused }

var errRefused = errors.New("remote and file references are refused")

// compileError turns the library's compile error into a message for the schema's author.
func compileError(err error, root map[string]any) error {
	var (
		load     *js.LoadURLError
		invalid  *js.SchemaValidationError
		notFound *js.JSONPointerNotFoundError
		anchor   *js.AnchorNotFoundError
	)
	switch {
	case errors.As(err, &load):
		if s, ok := root["$schema"].(string); ok && strings.TrimSuffix(s, "#") == strings.TrimSuffix(load.URL, "#") {
			return justpay.Errorf(justpay.EINVALID, "$schema %q is not a supported draft (draft-04, -06, -07, 2019-09 or 2020-12)", truncate(s, 100))
		}
		return justpay.Errorf(justpay.EINVALID, "remote and file $ref are not allowed")
	case errors.As(err, &invalid):
		var verr *js.ValidationError
		if errors.As(invalid.Err, &verr) {
			return justpay.Errorf(justpay.EINVALID, "not a valid JSON Schema: %s", describe(verr))
		}
	case errors.As(err, &notFound):
		return justpay.Errorf(justpay.EINVALID, "$ref %s points to nothing in the schema", truncate(local(notFound.URL), 200))
	case errors.As(err, &anchor):
		return justpay.Errorf(justpay.EINVALID, "$ref %s points to nothing in the schema", truncate(local(anchor.Reference), 200))
	}
	return justpay.Errorf(justpay.EINVALID, "not a valid JSON Schema: %s", truncate(local(err.Error()), 300))
}

// local strips the base URL from a location in the schema, leaving its fragment ("#/$defs/a").
func local(s string) string { return strings.ReplaceAll(s, baseURL, "") }

// decode parses one JSON value, keeping numbers exact, after checking that it is valid UTF-8 JSON
// nested at most justpay.MaxSchemaDepth deep; maxBytes caps the size when not 0. It also counts
// the values at each depth (0 is the value itself, 1 its members or items...).
func decode(raw []byte, maxBytes int) (any, [levels]int64, error) {
	var perDepth [levels]int64
	if maxBytes > 0 && len(raw) > maxBytes {
		return nil, perDepth, justpay.Errorf(justpay.EINVALID, "must be at most %d bytes", maxBytes)
	}
	if !utf8.Valid(raw) {
		return nil, perDepth, justpay.Errorf(justpay.EINVALID, "not valid UTF-8")
	}
	// The token scan finds syntax errors and excessive nesting before anything is built.
	type container struct{ object, wantKey bool }
	var open []container
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, perDepth, justpay.Errorf(justpay.EINVALID, "not valid JSON")
		}
		if n, ok := tok.(json.Number); ok && !reasonable(n) {
			return nil, perDepth, justpay.Errorf(justpay.EINVALID, "has a number too large or too precise (over %d digits written out): %s",
				maxPlainLen, truncate(string(n), 40))
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			open = open[:len(open)-1]
			continue
		}
		if n := len(open); n > 0 && open[n-1].object {
			if open[n-1].wantKey { // a member name, not a value
				open[n-1].wantKey = false
				continue
			}
			open[n-1].wantKey = true
		}
		perDepth[len(open)]++
		if tok == json.Delim('{') || tok == json.Delim('[') {
			if len(open) == justpay.MaxSchemaDepth {
				return nil, perDepth, justpay.Errorf(justpay.EINVALID, "nested deeper than %d levels", justpay.MaxSchemaDepth)
			}
			open = append(open, container{object: tok == json.Delim('{'), wantKey: true})
		}
	}
	if perDepth[0] != 1 {
		return nil, perDepth, justpay.Errorf(justpay.EINVALID, "not valid JSON")
	}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, perDepth, justpay.Errorf(justpay.EINVALID, "not valid JSON")
	}
	return v, perDepth, nil
}

// Limits of the numbers in schemas and documents. The library turns numbers into exact
// fractions (math/big) to compare them: 1e9000000 would take megabytes and seconds, and a
// larger exponent makes it panic. The limit is on the number written out in plain decimal
// (1e300 is 301 characters), the way PostgreSQL's jsonb gives it back, so that a schema accepted
// once is accepted again when read from the database.
const (
	maxNumberLen = 1200 // characters as written
	maxPlainLen  = 1100 // characters written out without an exponent
)

// reasonable reports whether n is within maxNumberLen characters as written and maxPlainLen
// written out in plain decimal.
func reasonable(n json.Number) bool {
	s := strings.TrimPrefix(string(n), "-")
	if len(s) > maxNumberLen {
		return false
	}
	mantissa, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e < -2*maxPlainLen || e > 2*maxPlainLen {
			return false
		}
		mantissa, exp = s[:i], e
	}
	whole, frac, _ := strings.Cut(mantissa, ".")
	digits, point := len(whole)+len(frac), len(whole)+exp // the point goes after digit number point
	plain := digits + 1                                   // "12.34"
	switch {
	case point >= digits: // "1234000"
		plain = point
	case point <= 0: // "0.0001234"
		plain = 2 - point + digits
	}
	return plain <= maxPlainLen
}

// Limits of a validation message.
const (
	maxMessage = 900 // bytes, so that the whole error stays under about 1 KB
	maxReason  = 160 // bytes of one "path: reason"
)

// describe lists the failing locations of a validation error, sorted: "/a: reason; /b/0: reason".
func describe(verr *js.ValidationError) string {
	var reasons []string
	seen := map[string]bool{}
	add := func(path []string, reason string) {
		r := truncate(pointer(path)+": "+reason, maxReason)
		if !seen[r] {
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	var walk func(e *js.ValidationError)
	walk = func(e *js.ValidationError) {
		if len(e.Causes) > 0 {
			for _, cause := range e.Causes {
				walk(cause)
			}
			return
		}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, p := range k.Missing {
				add(append(e.InstanceLocation[:len(e.InstanceLocation):len(e.InstanceLocation)], p), "missing property")
			}
		case *kind.Schema:
			add(e.InstanceLocation, "does not match")
		default:
			add(e.InstanceLocation, e.BasicOutput().Error.String())
		}
	}
	walk(verr)
	slices.Sort(reasons) // the library visits properties in map order
	var b strings.Builder
	for i, r := range reasons {
		if b.Len()+len(r)+2 > maxMessage {
			fmt.Fprintf(&b, "; and %d more", len(reasons)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r)
	}
	return b.String()
}

// pointer renders an instance location as a JSON Pointer, "(root)" for the document itself.
func pointer(path []string) string {
	if len(path) == 0 {
		return "(root)"
	}
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// truncate shortens s to at most n bytes, cutting at a character boundary and marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
