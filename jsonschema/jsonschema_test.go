package jsonschema

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justpay/justpay"
)

// summarizer is the inputSchema of the spec's example service.
const summarizer = `{
	"type": "object",
	"properties": {
		"text": { "type": "string", "description": "Text to summarize" },
		"maxBullets": { "type": "number", "description": "Max bullet points" }
	},
	"required": ["text"]
}`

// nested returns a schema nested depth levels deep: {"items": {"items": ... {}}}.
func nested(depth int) string {
	return strings.Repeat(`{"items":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

// doubling returns a schema of n levels whose each level tries the next twice.
func doubling(n int) string {
	var b strings.Builder
	b.WriteString(`{"$ref": "#/$defs/d0", "$defs": {`)
	for i := range n {
		fmt.Fprintf(&b, `"d%d": {"anyOf": [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}, `, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d": {"type": "string"}}}`, n)
	return b.String()
}

// doublingBelow is a schema whose work doubles with each level of a document of nested arrays.
const doublingBelow = `{"$defs": {"a": {"anyOf": [{"items": {"$ref": "#/$defs/a"}}, {"items": {"$ref": "#/$defs/a"}}]}}, "$ref": "#/$defs/a"}`

func TestCheck(t *testing.T) {
	c := New()
	for _, tc := range []struct {
		name, schema string
		want         string // "" when the schema is acceptable, else a part of the message
	}{
		{"OK", summarizer, ""},
		{"OKEmpty", `{}`, ""},
		{"OKTrue", `true`, ""},
		{"OKFalse", `false`, ""},
		{"OKLocalRef", `{"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s"}}}`, ""},
		{"OKAnchor", `{"$defs": {"s": {"$anchor": "str", "type": "string"}}, "items": {"$ref": "#str"}}`, ""},
		{"OKRecursiveTree", `{"type": "object", "properties": {"value": {"type": "number"},
			"left": {"$ref": "#"}, "right": {"$ref": "#"}, "children": {"type": "array", "items": {"$ref": "#"}}}}`, ""},
		{"OKDraft7", `{"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {"type": "integer"}}, "items": {"$ref": "#/definitions/a"}}`, ""},
		{"OKDraft4", `{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["a"]}`, ""},
		{"OKDraft2019", `{"$schema": "https://json-schema.org/draft/2019-09/schema", "$recursiveAnchor": true, "items": {"$recursiveRef": "#"}}`, ""},
		{"OKDynamicRef", `{"$dynamicAnchor": "node", "properties": {"kids": {"items": {"$dynamicRef": "#node"}}}}`, ""},
		{"OKIDWithLocalRef", `{"$id": "https://example.com/s.json", "$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}`, ""},
		{"OKMaxDepth", nested(justpay.MaxSchemaDepth), ""},
		{"OKMetaschema2020", `{"$ref": "https://json-schema.org/draft/2020-12/schema"}`, ""},
		{"OKMetaschema7", `{"$ref": "http://json-schema.org/draft-07/schema#"}`, ""},
		{"OKDoublingBelow", doublingBelow, ""}, // refused at Validate for deep documents only
		{"OKManyAlternatives", `{"anyOf": [` + strings.Repeat(`{"type": "string"}, `, 200) + `{"type": "null"}]}`, ""},

		{"ErrNotJSON", `{"type": `, "not valid JSON"},
		{"ErrEmpty", ``, "not valid JSON"},
		{"ErrTrailingValue", `{} {}`, "not valid JSON"},
		{"ErrInvalidUTF8", "{\"description\": \"\xff\"}", "not valid UTF-8"},
		{"ErrArray", `[{"type": "string"}]`, "must be a JSON object or boolean"},
		{"ErrString", `"string"`, "must be a JSON object or boolean"},
		{"ErrNull", `null`, "must be a JSON object or boolean"},
		{"ErrTypeNumber", `{"type": 5}`, "not a valid JSON Schema: /type: "},
		{"ErrTypeUnknown", `{"type": "text"}`, "not a valid JSON Schema: /type: "},
		{"ErrNegativeMinLength", `{"minLength": -1}`, "not a valid JSON Schema: /minLength: minimum: got -1, want 0"},
		{"ErrRequiredNotArray", `{"required": "text"}`, "not a valid JSON Schema: /required: got string, want array"},
		{"ErrBadPattern", `{"pattern": "("}`, "not a valid JSON Schema: /pattern: "},
		{"ErrMissingLocalRef", `{"$ref": "#/$defs/nope"}`, "$ref #/$defs/nope points to nothing in the schema"},
		{"ErrMissingAnchor", `{"$ref": "#nope"}`, "points to nothing in the schema"},
		{"ErrRemoteHTTP", `{"$ref": "http://example.com/schema.json"}`, "remote and file $ref are not allowed"},
		{"ErrRemoteHTTPS", `{"properties": {"a": {"$ref": "https://example.com/schema.json#/a"}}}`, "remote and file $ref are not allowed"},
		{"ErrFile", `{"$ref": "file:///etc/passwd"}`, "remote and file $ref are not allowed"},
		{"ErrRelative", `{"$ref": "other.json"}`, "remote and file $ref are not allowed"},
		{"ErrRelativePath", `{"$ref": "../../etc/passwd"}`, "remote and file $ref are not allowed"},
		{"ErrRelativeToID", `{"$id": "https://example.com/a.json", "$ref": "b.json"}`, "remote and file $ref are not allowed"},
		{"ErrUnknownScheme", `{"$ref": "ftp://example.com/s.json"}`, "remote and file $ref are not allowed"},
		{"ErrRemoteSchema", `{"$schema": "https://example.com/meta.json"}`, `$schema "https://example.com/meta.json" is not a supported draft`},
		{"ErrTooLarge", `{"description": "` + strings.Repeat("a", justpay.MaxSchemaBytes) + `"}`, "must be at most 65536 bytes"},
		{"ErrTooDeep", nested(justpay.MaxSchemaDepth + 1), "nested deeper than 32 levels"},
		{"ErrTooDeepData", `{"const": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "nested deeper than 32 levels"},
		{"ErrHugeExponent", `{"maximum": 1e9000000}`, "has a number too large or too precise (over 1100 digits written out): 1e9000000"},
		{"ErrLongNumber", `{"minimum": ` + strings.Repeat("9", 1101) + `}`, "has a number too large or too precise"},
		{"ErrPreciseNumber", `{"multipleOf": 1.5e-1100}`, "has a number too large or too precise"},
		{"ErrSelfReference", `{"$ref": "#"}`, "refers to itself"},
		{"ErrSelfReferenceThroughAllOf", `{"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}`, "refers to itself"},
		{"ErrExponential", doubling(40), "too complex"},
		{"ErrTooManyAlternatives", `{"anyOf": [` + strings.Repeat(`{"type": "string"}, `, 1000) + `{"type": "null"}]}`, "too complex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := c.Check(json.RawMessage(tc.schema))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Check took %v", d)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if code := justpay.ErrorCode(err); code != justpay.EINVALID {
				t.Fatalf("code = %q (%v), want invalid", code, err)
			}
			if msg := justpay.ErrorMessage(err); !strings.Contains(msg, tc.want) || len(msg) > 1024 || strings.Contains(msg, "justpay.invalid") {
				t.Fatalf("message = %q, want one containing %q", msg, tc.want)
			}
		})
	}
}

// TestNeverFetches points every kind of reference at a local server and checks that it is never
// asked for anything.
func TestNeverFetches(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/schema+json")
		w.Write([]byte(`{"type": "string"}`))
	}))
	defer srv.Close()
	c := New()
	for _, schema := range []string{
		`{"$ref": "` + srv.URL + `/schema.json"}`,
		`{"properties": {"a": {"$ref": "` + srv.URL + `/schema.json#/x"}}}`,
		`{"$schema": "` + srv.URL + `/meta.json"}`,
		`{"$id": "` + srv.URL + `/root.json", "$ref": "other.json"}`,
		`{"$dynamicRef": "` + srv.URL + `/schema.json#node"}`,
		`{"$defs": {"a": {"$id": "` + srv.URL + `/a.json", "$ref": "b.json"}}, "$ref": "#/$defs/a"}`,
	} {
		if code := justpay.ErrorCode(c.Check(json.RawMessage(schema))); code != justpay.EINVALID {
			t.Errorf("Check(%s) code = %q, want invalid", schema, code)
		}
		if code := justpay.ErrorCode(c.Validate(json.RawMessage(schema), json.RawMessage(`"x"`))); code != justpay.EINVALID {
			t.Errorf("Validate(%s) code = %q, want invalid", schema, code)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the server received %d requests, want 0", n)
	}
}

func TestValidate(t *testing.T) {
	c := New()
	many := `{"required": [` + func() string {
		var names []string
		for i := range 200 {
			names = append(names, fmt.Sprintf(`"property_with_a_rather_long_name_%03d"`, i))
		}
		return strings.Join(names, ", ")
	}() + `]}`
	for _, tc := range []struct {
		name, schema, doc string
		want              string // "" when doc is valid, else the exact message
	}{
		{"OK", summarizer, `{"text": "long document", "maxBullets": 5}`, ""},
		{"OKBigNumber", summarizer, `{"text": "x", "maxBullets": 123456789012345678901234567890}`, ""},
		{"OKTrue", `true`, `[1, "two", {"three": null}]`, ""},
		{"OKLocalRef", `{"$defs": {"s": {"type": "string"}}, "items": {"$ref": "#/$defs/s"}}`, `["a", "b"]`, ""},
		{"OKDraft4", `{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"n": {"type": "integer", "maximum": 5, "exclusiveMaximum": true}}}`, `{"n": 4}`, ""},
		{"OKRecursive", `{"properties": {"v": {"type": "number"}, "kids": {"items": {"$ref": "#"}}}}`, `{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}`, ""},

		{"ErrSpecExample", summarizer, `{"maxBullets": "five"}`, "/maxBullets: got string, want number; /text: missing property"},
		{"ErrRoot", `{"type": "string"}`, `{"a": 1}`, "(root): got object, want string"},
		{"ErrFalse", `false`, `1`, "(root): false schema"},
		{"ErrNested", `{"properties": {"a/b": {"items": {"type": "integer"}}}}`, `{"a/b": [1, 2.5, "x"]}`,
			"/a~1b/1: got number, want integer; /a~1b/2: got string, want integer"},
		{"ErrEnum", `{"enum": ["red", "green"]}`, `"blue"`, "(root): value must be one of 'red', 'green'"},
		{"ErrDraft4", `{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"n": {"type": "integer", "maximum": 5, "exclusiveMaximum": true}}}`, `{"n": 5}`,
			"/n: exclusiveMaximum: got 5, want 5"},
		{"ErrRecursive", `{"properties": {"v": {"type": "number"}, "kids": {"items": {"$ref": "#"}}}}`, `{"kids": [{"kids": [{"v": "x"}]}]}`,
			"/kids/0/kids/0/v: got string, want number"},
		{"OKDoublingBelowShallow", doublingBelow, `[[[1, 2], [3]], []]`, ""},
		{"OKWide", `{"items": {"type": "string"}}`, "[" + strings.Repeat(`"abc", `, 100_000) + `"x"]`, ""},

		{"ErrDoublingBelowDeep", doublingBelow, strings.Repeat("[", 30) + strings.Repeat("]", 30), "too large to check against this schema (more than 4000000 steps)"},
		{"OKBigNumbers", `{"multipleOf": 1e-1000, "maximum": 1E+1000}`, "1." + strings.Repeat("7", 90) + "e999", ""},
		{"OKBigNumbersWrittenOut", `{"maximum": 1` + strings.Repeat("0", 1000) + `}`, "0." + strings.Repeat("0", 999) + "1", ""},
		{"ErrHugeExponent", `{"multipleOf": 3}`, `{"n": 1e-9000000}`, "has a number too large or too precise (over 1100 digits written out): 1e-9000000"},
		{"ErrNotJSON", summarizer, `{"text": `, "not valid JSON"},
		{"ErrEmptyDoc", summarizer, ``, "not valid JSON"},
		{"ErrTooDeep", `true`, strings.Repeat("[", 33) + strings.Repeat("]", 33), "nested deeper than 32 levels"},
		{"ErrSchema", `[]`, `1`, "must be a JSON object or boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := c.Validate(json.RawMessage(tc.schema), json.RawMessage(tc.doc))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Validate took %v", d)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if code := justpay.ErrorCode(err); code != justpay.EINVALID {
				t.Fatalf("code = %q (%v), want invalid", code, err)
			}
			if msg := justpay.ErrorMessage(err); msg != tc.want {
				t.Fatalf("message = %q, want %q", msg, tc.want)
			}
		})
	}
	t.Run("ErrManyShortened", func(t *testing.T) {
		msg := justpay.ErrorMessage(c.Validate(json.RawMessage(many), json.RawMessage(`{}`)))
		if len(msg) > maxMessage+30 || !strings.HasPrefix(msg, "/property_with_a_rather_long_name_000: missing property; ") ||
			!strings.Contains(msg, " more") {
			t.Fatalf("message (%d bytes) = %q", len(msg), msg)
		}
	})
	t.Run("ErrLongReasonShortened", func(t *testing.T) {
		long := strings.Repeat("k", 500)
		msg := justpay.ErrorMessage(c.Validate(json.RawMessage(`{"additionalProperties": false}`), json.RawMessage(`{"`+long+`": 1}`)))
		if len(msg) > maxReason || !strings.HasSuffix(msg, "…") {
			t.Fatalf("message (%d bytes) = %q", len(msg), msg)
		}
	})
}

func TestCache(t *testing.T) {
	c := New()
	c.max = 3
	schema := func(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"maxLength": %d}`, i)) }
	for range 3 {
		if err := c.Check(schema(1)); err != nil {
			t.Fatal(err)
		}
	}
	if n, size := c.cached(); n != 1 || size != len(schema(1)) {
		t.Fatalf("cached = %d (%d bytes) after checking one schema three times, want 1 (%d bytes)", n, size, len(schema(1)))
	}
	c.Check(json.RawMessage(`{"type": 5}`))
	if n, _ := c.cached(); n != 1 {
		t.Fatalf("cached = %d after a schema that does not compile, want 1", n)
	}
	for i := 2; i <= 5; i++ {
		c.Check(schema(i))
	}
	if n, size := c.cached(); n != 3 || size != 3*len(schema(1)) {
		t.Fatalf("cached = %d (%d bytes), want the bound 3", n, size)
	}
	if _, ok := c.entries[sha256Of(schema(1))]; ok {
		t.Fatal("the least recently used schema was not evicted")
	}
	if _, ok := c.entries[sha256Of(schema(5))]; !ok {
		t.Fatal("the most recent schema is not cached")
	}
}

func TestCacheBytes(t *testing.T) {
	c := New()
	schema := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"description": "%s", "maxLength": %d}`, strings.Repeat("d", 1000), i))
	}
	c.maxBytes = 3*len(schema(1)) + 10
	for i := 1; i <= 5; i++ {
		if err := c.Check(schema(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, size := c.cached(); n != 3 || size > c.maxBytes {
		t.Fatalf("cached = %d (%d bytes), want 3 within %d bytes", n, size, c.maxBytes)
	}
}

// TestConcurrent compiles and validates from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	c := New()
	c.max = 4
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				schema := json.RawMessage(fmt.Sprintf(`{"type": "object", "properties": {"n": {"maximum": %d}}, "required": ["n"]}`, (g+i)%6))
				if err := c.Validate(schema, json.RawMessage(`{"n": 0}`)); err != nil {
					t.Error(err)
					return
				}
				if err := c.Validate(schema, json.RawMessage(`{"n": 10}`)); justpay.ErrorCode(err) != justpay.EINVALID {
					t.Errorf("Validate = %v, want invalid", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }

func TestStepsPerDepth(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		want         []int64 // the first depths
		growth       bool    // the bound keeps growing with depth, else deeper ones equal the last
	}{
		{"Summarizer", summarizer, []int64{1, 1, 0}, false},
		{"InPlace", `{"allOf": [{"type": "object"}, {"$ref": "#/$defs/a"}], "$defs": {"a": {"anyOf": [true, false]}}}`, []int64{6, 0}, false},
		{"ThenOrElse", `{"if": true, "then": {"allOf": [true, true]}, "else": true}`, []int64{5, 0}, false},
		{"ObjectOrArray", `{"properties": {"a": true, "b": {"allOf": [true, true]}}, "patternProperties": {"^x": true}, "items": {"anyOf": [true, true, true, true]}}`, []int64{1, 5, 0}, false},
		{"Tree", `{"properties": {"left": {"$ref": "#"}, "right": {"$ref": "#"}}}`, []int64{1, 2, 2, 2}, false},
		{"DoublingBelow", doublingBelow, []int64{4, 8, 16, 32}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch, err := compile(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			got := sch.steps[:]
			if !slices.Equal(got[:len(tc.want)], tc.want) {
				t.Fatalf("steps = %v, want %v...", got, tc.want)
			}
			last := got[levels-1]
			if tc.growth && last <= maxSteps || !tc.growth && last != tc.want[len(tc.want)-1] {
				t.Fatalf("steps = %v", got)
			}
		})
	}
}

func TestDecodeCountsPerDepth(t *testing.T) {
	_, perDepth, err := decode([]byte(`{"a": [1, {"b": 2, "c": [3]}], "d": "e", "f": {}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 3, 2, 2, 1, 0}; !slices.Equal(perDepth[:len(want)], want) {
		t.Fatalf("values per depth = %v, want %v...", perDepth, want)
	}
}

func TestGuard(t *testing.T) {
	err := guard(func() error { panic("library bug") })
	if !errors.Is(err, errPanic) || justpay.ErrorCode(err) != justpay.EINTERNAL {
		t.Fatalf("guard = %v, want an internal error wrapping errPanic", err)
	}
}

func TestReasonableNumbers(t *testing.T) {
	for _, tc := range []struct {
		n    string
		want bool
	}{
		{"0", true}, {"-12.5", true}, {"1e300", true}, {"-1E+300", true}, {"1.5e-300", true},
		{"1e1099", true}, {"1e1100", false}, {"1e-1098", true}, {"1e-1099", false},
		{"1" + strings.Repeat("0", 1099), true}, {"1" + strings.Repeat("0", 1100), false},
		{"0." + strings.Repeat("0", 1097) + "1", true}, {"0." + strings.Repeat("0", 1098) + "1", false},
		{"12.34e1", true}, {"1e9000000", false}, {"1e-9000000", false}, {"1e99999999999999999999", false},
		{strings.Repeat("1", 1100), true}, {strings.Repeat("1", 1201), false},
	} {
		if got := reasonable(json.Number(tc.n)); got != tc.want {
			t.Errorf("reasonable(%.30s... %d chars) = %v, want %v", tc.n, len(tc.n), got, tc.want)
		}
	}
}
