package jsonschema

import (
	js "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/justpay/justpay"
)

// Bounds on the work of a validation. A schema of a few hundred bytes can otherwise make one
// validation take hours: each level of {"anyOf": [{"$ref": "#/$defs/next"}, {"$ref":
// "#/$defs/next"}]} doubles the work, and so does each level of a document nested in
// {"anyOf": [{"items": {"$ref": "#"}}, {"items": {"$ref": "#"}}]}.
const (
	// maxInPlace bounds how many subschemas a schema may apply to one value in place (through
	// $ref, allOf, anyOf...), whatever the document: more is refused at Check.
	maxInPlace = 1000
	// maxSteps bounds the subschema evaluations of one validation, the sum over the document's
	// values of the bound at their depth (about a second at most): a document that could take
	// more is refused unchecked.
	maxSteps = 4_000_000
)

// levels are the depths at which a document can have values.
const levels = justpay.MaxSchemaDepth + 1

// stepsPerDepth bounds, for each depth j, how many subschemas of sch are evaluated at one value
// at depth j of a document, saturating just above maxSteps. It reports EINVALID when sch refers
// to itself at the same value (a $ref cycle that validation always fails on).
//
// It works on the compiled schema, where every reference is resolved. For a value v that s
// applies to, applied(s, j, k) bounds the subschemas evaluated at one value j levels below v,
// when v is of kind k (an object or an array: a path down goes through one of them). At v
// itself (j = 0) that is s plus what its in-place applicators ($ref, allOf, anyOf, oneOf, not,
// if/then/else, dependentSchemas) apply; below v, what its in-place applicators apply below v,
// plus what its child applicators for kind k (properties..., or items...) apply to the one child
// on the way, of either kind, one level less deep. Alternatives are added up (anyOf may try
// each), except where at most one applies (one property of an object, then or else, the one
// target of a dynamic reference).
func stepsPerDepth(sch *js.Schema) ([levels]int64, error) {
	var steps [levels]int64
	c := &coster{memo: map[*js.Schema]*[levels][kinds]int64{}, dynamic: map[string][]*js.Schema{}}
	c.collect(sch, map[*js.Schema]bool{})
	for j := range levels {
		n, err := c.below(sch, j)
		if err != nil {
			return steps, err
		}
		steps[j] = n
	}
	return steps, nil
}

// Kinds of the value a schema applies to, when the path goes below it.
const (
	object = iota
	array
	kinds
)

// Memo states of applied(s, j, k) besides a count.
const (
	unknown    = -1
	inProgress = -2
)

type coster struct {
	memo      map[*js.Schema]*[levels][kinds]int64
	dynamic   map[string][]*js.Schema // schemas by $dynamicAnchor
	recursive []*js.Schema            // schemas with "$recursiveAnchor": true
}

// collect records the targets dynamic references may resolve to, over every schema reachable
// from s.
func (c *coster) collect(s *js.Schema, seen map[*js.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if s.DynamicAnchor != "" {
		c.dynamic[s.DynamicAnchor] = append(c.dynamic[s.DynamicAnchor], s)
	}
	if s.RecursiveAnchor {
		c.recursive = append(c.recursive, s)
	}
	for _, sub := range subschemas(s) {
		c.collect(sub, seen)
	}
}

// below is the most of applied(s, j, k) over the kinds k of value s may apply to.
func (c *coster) below(s *js.Schema, j int) (int64, error) {
	if j == 0 {
		return c.applied(s, 0, object) // at the value itself its kind does not matter
	}
	o, err := c.applied(s, j, object)
	if err != nil {
		return 0, err
	}
	a, err := c.applied(s, j, array)
	return max(o, a), err
}

// applied computes applied(s, j, k), saturating just above maxSteps.
func (c *coster) applied(s *js.Schema, j, k int) (int64, error) {
	if s == nil || j < 0 {
		return 0, nil
	}
	m := c.memo[s]
	if m == nil {
		m = new([levels][kinds]int64)
		for j := range m {
			m[j] = [kinds]int64{unknown, unknown}
		}
		c.memo[s] = m
	}
	switch m[j][k] {
	case inProgress:
		return 0, justpay.Errorf(justpay.EINVALID, "refers to itself without descending into the document (a $ref cycle)")
	case unknown:
		m[j][k] = inProgress
		n, err := c.compute(s, j, k)
		if err != nil {
			return 0, err
		}
		m[j][k] = n
	}
	return m[j][k], nil
}

// compute is applied(s, j, k) without the memo.
func (c *coster) compute(s *js.Schema, j, k int) (int64, error) {
	if s.Bool != nil { // true or false: decided at once, nothing below
		if j == 0 {
			return 1, nil
		}
		return 0, nil
	}
	var t tally
	if j == 0 {
		t.n = 1
	}
	// In place, at the same value.
	t.add(c, j, k, s.Ref, s.Not, s.If)
	t.add(c, j, k, s.AllOf...)
	t.add(c, j, k, s.AnyOf...)
	t.add(c, j, k, s.OneOf...)
	t.addMax(c, j, k, s.Then, s.Else)
	for _, d := range s.DependentSchemas {
		t.add(c, j, k, d)
	}
	for _, d := range s.Dependencies {
		t.add(c, j, k, schemaOf(d))
	}
	if s.DynamicRef != nil {
		t.addMax(c, j, k, append([]*js.Schema{s.DynamicRef.Ref}, c.dynamic[s.DynamicRef.Anchor]...)...)
	}
	if s.RecursiveRef != nil {
		t.addMax(c, j, k, append([]*js.Schema{s.RecursiveRef}, c.recursive...)...)
	}
	if j == 0 {
		return t.n, t.err
	}

	// Below, through the one child on the way, of whichever kind.
	switch k {
	case object: // of properties and additionalProperties, one applies to a member
		props := []*js.Schema{schemaOf(s.AdditionalProperties)}
		for _, p := range s.Properties {
			props = append(props, p)
		}
		t.addMaxBelow(c, j-1, props...)
		for _, p := range s.PatternProperties {
			t.addBelow(c, j-1, p)
		}
		t.addBelow(c, j-1, s.UnevaluatedProperties)
		if j == 1 {
			t.addBelow(c, 0, s.PropertyNames) // member names are strings
		}
	case array: // of prefixItems, items and additionalItems, one applies to an item
		items := append([]*js.Schema{schemaOf(s.Items), schemaOf(s.AdditionalItems), s.Items2020}, s.PrefixItems...)
		if tuple, ok := s.Items.([]*js.Schema); ok {
			items = append(items, tuple...)
		}
		t.addMaxBelow(c, j-1, items...)
		t.addBelow(c, j-1, s.Contains, s.UnevaluatedItems)
	}
	return t.n, t.err
}

// tally adds up counts, saturating just above maxSteps, and keeps the first error.
type tally struct {
	n   int64
	err error
}

// sum adds the count of each schema, or only the largest when at most one of them applies.
func (t *tally) sum(largest bool, count func(*js.Schema) (int64, error), ss []*js.Schema) {
	var total, most int64
	for _, s := range ss {
		if t.err != nil {
			return
		}
		var n int64
		n, t.err = count(s)
		total, most = min(total+n, maxSteps+1), max(most, n)
	}
	if largest {
		total = most
	}
	t.n = min(t.n+total, maxSteps+1)
}

// add adds applied(s, j, k) of each s: in-place applicators, at the same value.
func (t *tally) add(c *coster, j, k int, ss ...*js.Schema) {
	t.sum(false, func(s *js.Schema) (int64, error) { return c.applied(s, j, k) }, ss)
}

// addMax adds the largest applied(s, j, k) of in-place alternatives of which one applies.
func (t *tally) addMax(c *coster, j, k int, ss ...*js.Schema) {
	t.sum(true, func(s *js.Schema) (int64, error) { return c.applied(s, j, k) }, ss)
}

// addBelow adds below(s, j) of each s: child applicators, at a child of either kind.
func (t *tally) addBelow(c *coster, j int, ss ...*js.Schema) {
	t.sum(false, func(s *js.Schema) (int64, error) { return c.below(s, j) }, ss)
}

// addMaxBelow adds the largest below(s, j) of child applicators of which one applies.
func (t *tally) addMaxBelow(c *coster, j int, ss ...*js.Schema) {
	t.sum(true, func(s *js.Schema) (int64, error) { return c.below(s, j) }, ss)
}

// schemaOf returns v when it is a schema (keywords that also take a boolean or a list).
func schemaOf(v any) *js.Schema {
	s, _ := v.(*js.Schema)
	return s
}

// subschemas lists every schema s refers to or contains.
func subschemas(s *js.Schema) []*js.Schema {
	out := []*js.Schema{s.Ref, s.RecursiveRef, s.Not, s.If, s.Then, s.Else, s.PropertyNames,
		schemaOf(s.AdditionalProperties), s.UnevaluatedProperties, s.Contains, schemaOf(s.Items),
		schemaOf(s.AdditionalItems), s.Items2020, s.UnevaluatedItems, s.ContentSchema}
	if s.DynamicRef != nil {
		out = append(out, s.DynamicRef.Ref)
	}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	out = append(out, s.PrefixItems...)
	if tuple, ok := s.Items.([]*js.Schema); ok {
		out = append(out, tuple...)
	}
	for _, p := range s.Properties {
		out = append(out, p)
	}
	for _, p := range s.PatternProperties {
		out = append(out, p)
	}
	for _, d := range s.DependentSchemas {
		out = append(out, d)
	}
	for _, d := range s.Dependencies {
		out = append(out, schemaOf(d))
	}
	return out
}
