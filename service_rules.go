package justpay

import (
	"encoding/json"
	"strings"
)

// Lengths of a service's text fields, from the spec's Services section.
const (
	MinServiceNameLen        = 2
	MaxServiceNameLen        = 100
	MinServiceDescriptionLen = 10
	MaxServiceDescriptionLen = 2000
	MinCategoryLen           = 2
	MaxCategoryLen           = 50
	// MaxServiceSearchLen caps the search text of discovery.
	MaxServiceSearchLen = 200
)

// ValidateCreate checks the fields of a new service: name, description, category, inputSchema,
// outputSchema and pricePerJob are required, the others optional (WithDefaults fills them in).
// It returns EINVALID naming the first broken rule. Schemas are only checked to be present and
// within MaxSchemaBytes here; compiling them needs a JSON Schema library (see sqlstore.Schemas).
func (f *ServiceFields) ValidateCreate() error {
	for _, r := range []struct {
		name    string
		missing bool
	}{
		{"name", f.Name == nil}, {"description", f.Description == nil}, {"category", f.Category == nil},
		{"inputSchema", isAbsent(f.InputSchema)}, {"outputSchema", isAbsent(f.OutputSchema)}, {"pricePerJob", f.PricePerJob == nil},
	} {
		if r.missing {
			return Errorf(EINVALID, "%s is required", r.name)
		}
	}
	return f.validate()
}

// ValidateUpdate checks the fields present in an update with the limits of ValidateCreate; a
// required field cannot be removed (a schema set to null, a name set to ""). An update with no
// field is valid.
func (f *ServiceFields) ValidateUpdate() error {
	for _, r := range []struct {
		name   string
		schema json.RawMessage
	}{{"inputSchema", f.InputSchema}, {"outputSchema", f.OutputSchema}} {
		if r.schema != nil && isAbsent(r.schema) {
			return Errorf(EINVALID, "%s cannot be removed", r.name)
		}
	}
	return f.validate()
}

// validate checks every field that is present.
func (f *ServiceFields) validate() error {
	for _, t := range []struct {
		name     string
		v        *string
		min, max int
	}{
		{"name", f.Name, MinServiceNameLen, MaxServiceNameLen},
		{"description", f.Description, MinServiceDescriptionLen, MaxServiceDescriptionLen},
		{"category", f.Category, MinCategoryLen, MaxCategoryLen},
		{"model", f.Model, 0, MaxModelLen},
		{"modelProvider", f.ModelProvider, 0, MaxModelLen},
	} {
		if t.v == nil {
			continue
		}
		if err := validateLength(t.name, *t.v, t.min, t.max); err != nil {
			return err
		}
	}
	if f.Tags != nil {
		if err := validateTags("tags", *f.Tags); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		v    json.RawMessage
	}{{"inputSchema", f.InputSchema}, {"outputSchema", f.OutputSchema}, {"exampleInput", f.ExampleInput}, {"exampleOutput", f.ExampleOutput}} {
		if len(d.v) > MaxSchemaBytes {
			return Errorf(EINVALID, "%s must be at most %d bytes", d.name, MaxSchemaBytes)
		}
		if d.v != nil && !json.Valid(d.v) {
			return Errorf(EINVALID, "%s must be JSON", d.name)
		}
		if err := ValidateJSON(d.name, d.v); err != nil {
			return err
		}
	}
	if f.PricePerJob != nil && *f.PricePerJob < 0 {
		return Errorf(EINVALID, "pricePerJob must be a whole number of micro-units, at least 0")
	}
	for _, r := range []struct {
		name     string
		v        *int
		min, max int
	}{
		{"maxExecutionTimeSecs", f.MaxExecutionTimeSecs, MinMaxExecutionTimeSecs, MaxMaxExecutionTimeSecs},
		{"maxConcurrentJobs", f.MaxConcurrentJobs, 1, MaxMaxConcurrentJobs},
		{"maxQueueSize", f.MaxQueueSize, 0, MaxMaxQueueSize},
	} {
		if r.v != nil && (*r.v < r.min || *r.v > r.max) {
			return Errorf(EINVALID, "%s must be a whole number from %d to %d", r.name, r.min, r.max)
		}
	}
	// NaN fails every comparison, so the range is checked as "inside", not "not outside".
	if s := f.MinClientTrustScore; s != nil && !(*s >= 0 && *s <= 1) {
		return Errorf(EINVALID, "minClientTrustScore must be a number from 0 to 1")
	}
	return nil
}

// validateTags checks a list of tags: at most MaxServiceTags, each 1-MaxTagLen characters.
func validateTags(field string, tags []string) error {
	if len(tags) > MaxServiceTags {
		return Errorf(EINVALID, "%s must have at most %d items", field, MaxServiceTags)
	}
	for _, tag := range tags {
		if strings.TrimSpace(tag) == "" {
			return Errorf(EINVALID, "each of %s must be 1-%d characters", field, MaxTagLen)
		}
		if err := ValidateText("each of "+field, tag, MaxTagLen); err != nil {
			return err
		}
	}
	return nil
}

// isAbsent reports whether a JSON field was left out or sent as null.
func isAbsent(v json.RawMessage) bool {
	return len(v) == 0 || string(v) == "null"
}

// WithDefaults returns a copy of f, for a new service, with every optional field that is absent
// set to its documented default: no tags, model or examples, maxExecutionTimeSecs 300,
// autoAccept true, maxConcurrentJobs 5, queueEnabled true, maxQueueSize 20 and
// minClientTrustScore 0. An example sent as null counts as absent.
func (f *ServiceFields) WithDefaults() ServiceFields {
	d := *f
	if d.Tags == nil || *d.Tags == nil {
		d.Tags = &[]string{}
	}
	for _, s := range []**string{&d.Model, &d.ModelProvider} {
		if *s == nil {
			*s = new(string)
		}
	}
	for _, ex := range []*json.RawMessage{&d.ExampleInput, &d.ExampleOutput} {
		if isAbsent(*ex) {
			*ex = nil
		}
	}
	setDefault(&d.MaxExecutionTimeSecs, DefaultMaxExecutionTimeSecs)
	setDefault(&d.AutoAccept, true)
	setDefault(&d.MaxConcurrentJobs, DefaultMaxConcurrentJobs)
	setDefault(&d.QueueEnabled, true)
	setDefault(&d.MaxQueueSize, DefaultMaxQueueSize)
	setDefault(&d.MinClientTrustScore, 0)
	return d
}

// setDefault points *p at v when it is nil.
func setDefault[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}

// Validate checks a discovery filter: the page, the sort order, the price range and the text
// fields. It returns EINVALID naming the first broken rule.
func (f *ServiceFilter) Validate() error {
	if err := f.Page.Validate(); err != nil {
		return err
	}
	switch f.SortBy {
	case "", SortPrice, SortRating, SortCompletedJobs, SortNewest:
	default:
		return Errorf(EINVALID, `sortBy must be one of "price", "rating", "completedJobs", "newest"`)
	}
	for _, p := range []struct {
		name string
		v    *int64
	}{{"minPrice", f.MinPrice}, {"maxPrice", f.MaxPrice}} {
		if p.v != nil && *p.v < 0 {
			return Errorf(EINVALID, "%s must be a whole number of micro-units, at least 0", p.name)
		}
	}
	if f.MinPrice != nil && f.MaxPrice != nil && *f.MinPrice > *f.MaxPrice {
		return Errorf(EINVALID, "minPrice must not be above maxPrice")
	}
	for _, t := range []struct {
		name string
		v    string
		max  int
	}{
		{"category", f.Category, MaxCategoryLen}, {"search", f.Search, MaxServiceSearchLen},
		{"model", f.Model, MaxModelLen}, {"modelProvider", f.ModelProvider, MaxModelLen},
	} {
		if err := ValidateText(t.name, t.v, t.max); err != nil {
			return err
		}
	}
	return validateTags("tags", f.Tags)
}
