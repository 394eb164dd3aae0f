package justpay

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func svcPtr[T any](v T) *T { return &v }

// validService returns the fields of the spec's example service.
func validService() ServiceFields {
	return ServiceFields{
		Name:         svcPtr("GPT-4 Text Summarizer"),
		Description:  svcPtr("Summarizes long documents into concise bullet points"),
		Category:     svcPtr("text-processing"),
		Tags:         &[]string{"summarization", "nlp", "gpt-4"},
		InputSchema:  json.RawMessage(`{"type": "object", "required": ["text"]}`),
		OutputSchema: json.RawMessage(`{"type": "object"}`),
		PricePerJob:  svcPtr(int64(500000)),
	}
}

func TestServiceFieldsValidateCreate(t *testing.T) {
	big := json.RawMessage(`"` + strings.Repeat("a", MaxSchemaBytes) + `"`)
	for _, tc := range []struct {
		name   string
		change func(f *ServiceFields)
		want   string // "" for valid, else a part of the message
	}{
		{"OK", func(f *ServiceFields) {}, ""},
		{"OKAllFields", func(f *ServiceFields) {
			f.ExampleInput, f.ExampleOutput = json.RawMessage(`{"text": "x"}`), json.RawMessage(`{"bullets": []}`)
			f.Model, f.ModelProvider = svcPtr("gpt-4"), svcPtr("openai")
			f.MaxExecutionTimeSecs, f.AutoAccept, f.MaxConcurrentJobs = svcPtr(3600), svcPtr(false), svcPtr(100)
			f.QueueEnabled, f.MaxQueueSize, f.MinClientTrustScore = svcPtr(false), svcPtr(0), svcPtr(1.0)
		}, ""},
		{"OKFreeAndLimits", func(f *ServiceFields) {
			f.PricePerJob, f.MaxExecutionTimeSecs, f.MaxConcurrentJobs, f.MaxQueueSize = svcPtr(int64(0)), svcPtr(5), svcPtr(1), svcPtr(1000)
			f.Name, f.Category = svcPtr("ab"), svcPtr(strings.Repeat("é", 50))
			f.Tags = &[]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", strings.Repeat("t", 50)}
		}, ""},
		{"OKNullExamples", func(f *ServiceFields) { f.ExampleInput = json.RawMessage(`null`) }, ""},
		{"OKBooleanSchema", func(f *ServiceFields) { f.OutputSchema = json.RawMessage(`true`) }, ""},

		{"ErrNoName", func(f *ServiceFields) { f.Name = nil }, "name is required"},
		{"ErrNoDescription", func(f *ServiceFields) { f.Description = nil }, "description is required"},
		{"ErrNoCategory", func(f *ServiceFields) { f.Category = nil }, "category is required"},
		{"ErrNoInputSchema", func(f *ServiceFields) { f.InputSchema = nil }, "inputSchema is required"},
		{"ErrNullOutputSchema", func(f *ServiceFields) { f.OutputSchema = json.RawMessage(`null`) }, "outputSchema is required"},
		{"ErrNoPrice", func(f *ServiceFields) { f.PricePerJob = nil }, "pricePerJob is required"},
		{"ErrNameShort", func(f *ServiceFields) { f.Name = svcPtr("a") }, "name must be 2-100 characters"},
		{"ErrNameBlank", func(f *ServiceFields) { f.Name = svcPtr("   ") }, "name must be 2-100 characters"},
		{"ErrNameLong", func(f *ServiceFields) { f.Name = svcPtr(strings.Repeat("n", 101)) }, "name must be at most 100 characters"},
		{"ErrNameNUL", func(f *ServiceFields) { f.Name = svcPtr("a\x00b") }, "name must not contain NUL"},
		{"ErrNameUTF8", func(f *ServiceFields) { f.Name = svcPtr("a\xffb") }, "name must be valid UTF-8"},
		{"ErrDescriptionShort", func(f *ServiceFields) { f.Description = svcPtr("too short") }, "description must be 10-2000 characters"},
		{"ErrDescriptionLong", func(f *ServiceFields) { f.Description = svcPtr(strings.Repeat("d", 2001)) }, "description must be at most 2000"},
		{"ErrCategoryShort", func(f *ServiceFields) { f.Category = svcPtr("x") }, "category must be 2-50 characters"},
		{"ErrCategoryLong", func(f *ServiceFields) { f.Category = svcPtr(strings.Repeat("c", 51)) }, "category must be at most 50"},
		{"ErrTooManyTags", func(f *ServiceFields) { f.Tags = &[]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"} }, "tags must have at most 10 items"},
		{"ErrEmptyTag", func(f *ServiceFields) { f.Tags = &[]string{"ok", ""} }, "each of tags must be 1-50 characters"},
		{"ErrLongTag", func(f *ServiceFields) { f.Tags = &[]string{strings.Repeat("t", 51)} }, "each of tags must be at most 50 characters"},
		{"ErrTagNUL", func(f *ServiceFields) { f.Tags = &[]string{"a\x00"} }, "must not contain NUL"},
		{"ErrModelLong", func(f *ServiceFields) { f.Model = svcPtr(strings.Repeat("m", 101)) }, "model must be at most 100"},
		{"ErrModelProviderLong", func(f *ServiceFields) { f.ModelProvider = svcPtr(strings.Repeat("m", 101)) }, "modelProvider must be at most 100"},
		{"ErrInputSchemaTooLarge", func(f *ServiceFields) { f.InputSchema = big }, "inputSchema must be at most 65536 bytes"},
		{"ErrExampleTooLarge", func(f *ServiceFields) { f.ExampleOutput = big }, "exampleOutput must be at most 65536 bytes"},
		{"ErrExampleNotJSON", func(f *ServiceFields) { f.ExampleInput = json.RawMessage(`{`) }, "exampleInput must be JSON"},
		{"ErrNegativePrice", func(f *ServiceFields) { f.PricePerJob = svcPtr(int64(-1)) }, "pricePerJob must be"},
		{"ErrExecutionTimeLow", func(f *ServiceFields) { f.MaxExecutionTimeSecs = svcPtr(4) }, "maxExecutionTimeSecs must be a whole number from 5 to 3600"},
		{"ErrExecutionTimeHigh", func(f *ServiceFields) { f.MaxExecutionTimeSecs = svcPtr(3601) }, "maxExecutionTimeSecs"},
		{"ErrConcurrentZero", func(f *ServiceFields) { f.MaxConcurrentJobs = svcPtr(0) }, "maxConcurrentJobs must be a whole number from 1 to 100"},
		{"ErrConcurrentHigh", func(f *ServiceFields) { f.MaxConcurrentJobs = svcPtr(101) }, "maxConcurrentJobs"},
		{"ErrQueueNegative", func(f *ServiceFields) { f.MaxQueueSize = svcPtr(-1) }, "maxQueueSize must be a whole number from 0 to 1000"},
		{"ErrQueueHigh", func(f *ServiceFields) { f.MaxQueueSize = svcPtr(1001) }, "maxQueueSize"},
		{"ErrTrustNegative", func(f *ServiceFields) { f.MinClientTrustScore = svcPtr(-0.1) }, "minClientTrustScore must be a number from 0 to 1"},
		{"ErrTrustHigh", func(f *ServiceFields) { f.MinClientTrustScore = svcPtr(1.01) }, "minClientTrustScore"},
		{"ErrTrustNaN", func(f *ServiceFields) { f.MinClientTrustScore = svcPtr(math.NaN()) }, "minClientTrustScore"},
		{"ErrTrustInf", func(f *ServiceFields) { f.MinClientTrustScore = svcPtr(math.Inf(1)) }, "minClientTrustScore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := validService()
			tc.change(&f)
			checkServiceRule(t, f.ValidateCreate(), tc.want)
		})
	}
}

func TestServiceFieldsValidateUpdate(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    ServiceFields
		want string
	}{
		{"OKNothing", ServiceFields{}, ""},
		{"OKSome", ServiceFields{PricePerJob: svcPtr(int64(7)), Tags: &[]string{}, AutoAccept: svcPtr(false)}, ""},
		{"OKClearExample", ServiceFields{ExampleInput: json.RawMessage(`null`)}, ""},
		{"ErrEmptyName", ServiceFields{Name: svcPtr("")}, "name must be 2-100 characters"},
		{"ErrEmptyDescription", ServiceFields{Description: svcPtr("")}, "description must be 10-2000 characters"},
		{"ErrEmptyCategory", ServiceFields{Category: svcPtr("")}, "category must be 2-50 characters"},
		{"ErrRemoveSchema", ServiceFields{InputSchema: json.RawMessage(`null`)}, "inputSchema cannot be removed"},
		{"ErrEmptySchema", ServiceFields{OutputSchema: json.RawMessage{}}, "outputSchema cannot be removed"},
		{"ErrNegativePrice", ServiceFields{PricePerJob: svcPtr(int64(-5))}, "pricePerJob"},
		{"ErrQueue", ServiceFields{MaxQueueSize: svcPtr(5000)}, "maxQueueSize"},
		{"ErrTrustNaN", ServiceFields{MinClientTrustScore: svcPtr(math.NaN())}, "minClientTrustScore"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkServiceRule(t, tc.f.ValidateUpdate(), tc.want) })
	}
}

func TestServiceFieldsWithDefaults(t *testing.T) {
	f := validService()
	f.Tags, f.ExampleOutput = nil, json.RawMessage(`null`)
	d := f.WithDefaults()
	if len(*d.Tags) != 0 || *d.Tags == nil || *d.Model != "" || *d.ModelProvider != "" || d.ExampleInput != nil || d.ExampleOutput != nil ||
		*d.MaxExecutionTimeSecs != 300 || !*d.AutoAccept || *d.MaxConcurrentJobs != 5 || !*d.QueueEnabled ||
		*d.MaxQueueSize != 20 || *d.MinClientTrustScore != 0 {
		t.Fatalf("defaults = %+v", d)
	}
	if f.MaxExecutionTimeSecs != nil || f.Tags != nil {
		t.Fatal("WithDefaults changed its receiver")
	}
	f.MaxExecutionTimeSecs, f.AutoAccept, f.MaxQueueSize, f.MinClientTrustScore = svcPtr(60), svcPtr(false), svcPtr(0), svcPtr(0.5)
	d = f.WithDefaults()
	if *d.MaxExecutionTimeSecs != 60 || *d.AutoAccept || *d.MaxQueueSize != 0 || *d.MinClientTrustScore != 0.5 {
		t.Fatalf("WithDefaults replaced given values: %+v", d)
	}
}

func TestServiceFilterValidate(t *testing.T) {
	page := Page{Page: 1, Limit: 20}
	for _, tc := range []struct {
		name string
		f    ServiceFilter
		want string
	}{
		{"OK", ServiceFilter{Page: page}, ""},
		{"OKEverything", ServiceFilter{Category: "text-processing", Search: "100%_off", Model: "gpt-4", ModelProvider: "openai",
			Tags: []string{"nlp", "gpt-4"}, MinPrice: svcPtr(int64(0)), MaxPrice: svcPtr(int64(0)), SortBy: SortCompletedJobs, Page: page}, ""},
		{"OKEachSort", ServiceFilter{SortBy: SortRating, Page: page}, ""},
		{"ErrPage", ServiceFilter{Page: Page{Page: 0, Limit: 20}}, "page must be"},
		{"ErrLimit", ServiceFilter{Page: Page{Page: 1, Limit: 101}}, "limit must be"},
		{"ErrSortBy", ServiceFilter{SortBy: "cheapest", Page: page}, "sortBy must be one of"},
		{"ErrNegativeMinPrice", ServiceFilter{MinPrice: svcPtr(int64(-1)), Page: page}, "minPrice must be"},
		{"ErrNegativeMaxPrice", ServiceFilter{MaxPrice: svcPtr(int64(-1)), Page: page}, "maxPrice must be"},
		{"ErrPriceRange", ServiceFilter{MinPrice: svcPtr(int64(10)), MaxPrice: svcPtr(int64(9)), Page: page}, "minPrice must not be above maxPrice"},
		{"ErrSearchNUL", ServiceFilter{Search: "a\x00", Page: page}, "search must not contain NUL"},
		{"ErrSearchLong", ServiceFilter{Search: strings.Repeat("s", 201), Page: page}, "search must be at most 200"},
		{"ErrCategoryUTF8", ServiceFilter{Category: "\xff", Page: page}, "category must be valid UTF-8"},
		{"ErrTooManyTags", ServiceFilter{Tags: make([]string, 11), Page: page}, "tags must have at most 10"},
		{"ErrEmptyTag", ServiceFilter{Tags: []string{""}, Page: page}, "each of tags must be 1-50"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkServiceRule(t, tc.f.Validate(), tc.want) })
	}
}

// checkServiceRule fails unless err is nil when want is "", else EINVALID with a message containing want.
func checkServiceRule(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if code := ErrorCode(err); code != EINVALID || !strings.Contains(ErrorMessage(err), want) {
		t.Fatalf("err = %v, want invalid containing %q", err, want)
	}
}
