package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

func svcPtr[T any](v T) *T { return &v }

const (
	summarizerInput  = `{"type": "object", "properties": {"text": {"type": "string"}, "maxBullets": {"type": "number"}}, "required": ["text"]}`
	summarizerOutput = `{"type": "object", "properties": {"bullets": {"type": "array", "items": {"type": "string"}}}}`
)

// listing returns the required fields of a service named name, changed by opts.
func listing(name string, opts ...func(*justpay.ServiceFields)) justpay.ServiceFields {
	f := justpay.ServiceFields{
		Name:         svcPtr(name),
		Description:  svcPtr("Summarizes long documents into concise bullet points"),
		Category:     svcPtr("text-processing"),
		InputSchema:  json.RawMessage(summarizerInput),
		OutputSchema: json.RawMessage(summarizerOutput),
		PricePerJob:  svcPtr(int64(500000)),
	}
	for _, o := range opts {
		o(&f)
	}
	return f
}

// serviceEnv is a wired store with a raw connection to its database, for seeding counters that
// only jobs change.
type serviceEnv struct {
	*sqlstoretest.Env
	raw *sql.DB
}

func newServiceEnv(t *testing.T, b sqlstoretest.Backend) *serviceEnv {
	t.Helper()
	clock := sqlstoretest.NewClock()
	cfg := sqlstoretest.Config(t, b, clock)
	db, err := sqlstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &serviceEnv{Env: sqlstoretest.Wire(t, db, clock), raw: rawDB(t, cfg)}
}

// mustCreate creates a service one second after the previous one, so that "newest" is defined.
func (e *serviceEnv) mustCreate(t *testing.T, agentID string, f justpay.ServiceFields) *justpay.Service {
	t.Helper()
	e.Clock.Advance(time.Second)
	s, err := e.Store.CreateService(context.Background(), agentID, f)
	if err != nil {
		t.Fatalf("create service %s: %v", *f.Name, err)
	}
	return s
}

// seed sets counters that completed and rated jobs would have set.
func (e *serviceEnv) seed(t *testing.T, id string, completed, ratings, ratingSum int64) {
	t.Helper()
	if _, err := e.raw.Exec(`UPDATE services SET completed_jobs = $1, rating_count = $2, rating_sum = $3 WHERE id = $4`,
		completed, ratings, ratingSum, id); err != nil {
		t.Fatal(err)
	}
}

// countServices counts the rows of the services table.
func (e *serviceEnv) countServices(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.raw.QueryRow(`SELECT COUNT(*) FROM services`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sameJSON reports whether two JSON documents are equal as values (PostgreSQL's jsonb does not
// keep the original spacing and key order).
func sameJSON(t *testing.T, got, want json.RawMessage) bool {
	t.Helper()
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored document %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(g, w)
}

// wantServiceErr fails unless err has the code and, when given, a message containing msg.
func wantServiceErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if got := justpay.ErrorCode(err); got != code || !strings.Contains(justpay.ErrorMessage(err), msg) {
		t.Fatalf("err = %v (code %q), want code %q with a message containing %q", err, got, code, msg)
	}
}

func TestCreateService(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newServiceEnv(t, b)
		owner, _ := env.MustRegister(t, "owner")

		t.Run("OKDefaults", func(t *testing.T) {
			s := env.mustCreate(t, owner.ID, listing("GPT-4 Text Summarizer"))
			now := env.Clock.Now().UTC().Truncate(time.Microsecond)
			if !justpay.IsID(s.ID) || s.AgentID != owner.ID || s.Name != "GPT-4 Text Summarizer" || s.Category != "text-processing" ||
				s.Tags == nil || len(s.Tags) != 0 || s.ExampleInput != nil || s.ExampleOutput != nil || s.Model != "" || s.ModelProvider != "" ||
				s.PricePerJob != 500000 || s.MaxExecutionTimeSecs != 300 || !s.AutoAccept || s.MaxConcurrentJobs != 5 ||
				!s.QueueEnabled || s.MaxQueueSize != 20 || s.MinClientTrustScore != 0 || !s.Active ||
				s.CompletedJobs != 0 || s.RatingCount != 0 || s.AverageRating() != nil || !s.CreatedAt.Equal(now) || !s.UpdatedAt.Equal(now) {
				t.Fatalf("service = %+v", s)
			}
			if !sameJSON(t, s.InputSchema, json.RawMessage(summarizerInput)) || !sameJSON(t, s.OutputSchema, json.RawMessage(summarizerOutput)) {
				t.Fatalf("schemas = %s, %s", s.InputSchema, s.OutputSchema)
			}
			got, err := env.Store.FindServiceByID(ctx, s.ID)
			if err != nil || !reflect.DeepEqual(got, s) {
				t.Fatalf("FindServiceByID = %+v, %v; want %+v", got, err, s)
			}
		})
		t.Run("OKEveryField", func(t *testing.T) {
			s := env.mustCreate(t, owner.ID, listing("Everything", func(f *justpay.ServiceFields) {
				f.Tags = &[]string{"summarization", "nlp", "gpt-4"}
				f.ExampleInput = json.RawMessage(`{"text": "A long document.", "maxBullets": 3}`)
				f.ExampleOutput = json.RawMessage(`{"bullets": ["short"]}`)
				f.Model, f.ModelProvider = svcPtr("gpt-4"), svcPtr("openai")
				f.PricePerJob, f.MaxExecutionTimeSecs, f.AutoAccept = svcPtr(int64(0)), svcPtr(60), svcPtr(false)
				f.MaxConcurrentJobs, f.QueueEnabled, f.MaxQueueSize, f.MinClientTrustScore = svcPtr(100), svcPtr(false), svcPtr(0), svcPtr(0.75)
			}))
			if !slices.Equal(s.Tags, []string{"summarization", "nlp", "gpt-4"}) || s.Model != "gpt-4" || s.ModelProvider != "openai" ||
				s.PricePerJob != 0 || s.MaxExecutionTimeSecs != 60 || s.AutoAccept || s.MaxConcurrentJobs != 100 || s.QueueEnabled ||
				s.MaxQueueSize != 0 || s.MinClientTrustScore != 0.75 {
				t.Fatalf("service = %+v", s)
			}
			if !sameJSON(t, s.ExampleInput, json.RawMessage(`{"maxBullets": 3, "text": "A long document."}`)) ||
				!sameJSON(t, s.ExampleOutput, json.RawMessage(`{"bullets": ["short"]}`)) {
				t.Fatalf("examples = %s, %s", s.ExampleInput, s.ExampleOutput)
			}
		})
		t.Run("OKNullExample", func(t *testing.T) {
			s := env.mustCreate(t, owner.ID, listing("Null example", func(f *justpay.ServiceFields) { f.ExampleInput = json.RawMessage(`null`) }))
			if s.ExampleInput != nil {
				t.Fatalf("exampleInput = %s, want none", s.ExampleInput)
			}
		})
		t.Run("ErrAgentNotFound", func(t *testing.T) {
			_, err := env.Store.CreateService(ctx, justpay.NewID(env.Clock.Now()), listing("Orphan"))
			wantServiceErr(t, err, justpay.ENOTFOUND, "agent not found")
		})

		before := env.countServices(t)
		for _, tc := range []struct {
			name   string
			change func(f *justpay.ServiceFields)
			msg    string
		}{
			{"ErrNoName", func(f *justpay.ServiceFields) { f.Name = nil }, "name is required"},
			{"ErrNoDescription", func(f *justpay.ServiceFields) { f.Description = nil }, "description is required"},
			{"ErrNoCategory", func(f *justpay.ServiceFields) { f.Category = nil }, "category is required"},
			{"ErrNoInputSchema", func(f *justpay.ServiceFields) { f.InputSchema = nil }, "inputSchema is required"},
			{"ErrNoOutputSchema", func(f *justpay.ServiceFields) { f.OutputSchema = json.RawMessage(`null`) }, "outputSchema is required"},
			{"ErrNoPrice", func(f *justpay.ServiceFields) { f.PricePerJob = nil }, "pricePerJob is required"},
			{"ErrNameShort", func(f *justpay.ServiceFields) { f.Name = svcPtr("x") }, "name must be 2-100 characters"},
			{"ErrNameLong", func(f *justpay.ServiceFields) { f.Name = svcPtr(strings.Repeat("n", 101)) }, "name must be at most 100"},
			{"ErrNameNUL", func(f *justpay.ServiceFields) { f.Name = svcPtr("bad\x00name") }, "name must not contain NUL"},
			{"ErrDescriptionShort", func(f *justpay.ServiceFields) { f.Description = svcPtr("short") }, "description must be 10-2000"},
			{"ErrDescriptionLong", func(f *justpay.ServiceFields) { f.Description = svcPtr(strings.Repeat("d", 2001)) }, "description must be at most 2000"},
			{"ErrDescriptionUTF8", func(f *justpay.ServiceFields) { f.Description = svcPtr("invalid \xff utf-8 text") }, "valid UTF-8"},
			{"ErrCategoryShort", func(f *justpay.ServiceFields) { f.Category = svcPtr("c") }, "category must be 2-50"},
			{"ErrCategoryLong", func(f *justpay.ServiceFields) { f.Category = svcPtr(strings.Repeat("c", 51)) }, "category must be at most 50"},
			{"ErrTooManyTags", func(f *justpay.ServiceFields) { f.Tags = svcPtr(make([]string, 11)) }, "tags must have at most 10"},
			{"ErrEmptyTag", func(f *justpay.ServiceFields) { f.Tags = &[]string{""} }, "each of tags must be 1-50"},
			{"ErrLongTag", func(f *justpay.ServiceFields) { f.Tags = &[]string{strings.Repeat("t", 51)} }, "at most 50"},
			{"ErrModel", func(f *justpay.ServiceFields) { f.Model = svcPtr(strings.Repeat("m", 101)) }, "model must be at most 100"},
			{"ErrModelProvider", func(f *justpay.ServiceFields) { f.ModelProvider = svcPtr(strings.Repeat("m", 101)) }, "modelProvider must be at most 100"},
			{"ErrNegativePrice", func(f *justpay.ServiceFields) { f.PricePerJob = svcPtr(int64(-1)) }, "pricePerJob"},
			{"ErrExecutionTime", func(f *justpay.ServiceFields) { f.MaxExecutionTimeSecs = svcPtr(4) }, "maxExecutionTimeSecs must be a whole number from 5 to 3600"},
			{"ErrExecutionTimeHigh", func(f *justpay.ServiceFields) { f.MaxExecutionTimeSecs = svcPtr(3601) }, "maxExecutionTimeSecs"},
			{"ErrConcurrentJobs", func(f *justpay.ServiceFields) { f.MaxConcurrentJobs = svcPtr(0) }, "maxConcurrentJobs must be a whole number from 1 to 100"},
			{"ErrConcurrentJobsHigh", func(f *justpay.ServiceFields) { f.MaxConcurrentJobs = svcPtr(101) }, "maxConcurrentJobs"},
			{"ErrQueueSize", func(f *justpay.ServiceFields) { f.MaxQueueSize = svcPtr(1001) }, "maxQueueSize must be a whole number from 0 to 1000"},
			{"ErrQueueSizeNegative", func(f *justpay.ServiceFields) { f.MaxQueueSize = svcPtr(-1) }, "maxQueueSize"},
			{"ErrTrustScore", func(f *justpay.ServiceFields) { f.MinClientTrustScore = svcPtr(1.5) }, "minClientTrustScore must be a number from 0 to 1"},
			{"ErrExampleNotJSON", func(f *justpay.ServiceFields) { f.ExampleInput = json.RawMessage(`{"text": `) }, "exampleInput must be JSON"},
			{"ErrExampleTooLarge", func(f *justpay.ServiceFields) {
				f.ExampleOutput = json.RawMessage(`{"bullets": ["` + strings.Repeat("b", justpay.MaxSchemaBytes) + `"]}`)
			}, "exampleOutput must be at most 65536 bytes"},

			{"ErrInputSchemaNotJSON", func(f *justpay.ServiceFields) { f.InputSchema = json.RawMessage(`{"type": `) }, "inputSchema must be JSON"},
			{"ErrInputSchemaArray", func(f *justpay.ServiceFields) { f.InputSchema = json.RawMessage(`[{"type": "string"}]`) }, "inputSchema: must be a JSON object or boolean"},
			{"ErrInputSchemaBadType", func(f *justpay.ServiceFields) { f.InputSchema = json.RawMessage(`{"type": 5}`) }, "inputSchema: not a valid JSON Schema: /type: "},
			{"ErrOutputSchemaMinLength", func(f *justpay.ServiceFields) { f.OutputSchema = json.RawMessage(`{"minLength": -1}`) }, "outputSchema: not a valid JSON Schema: /minLength: "},
			{"ErrInputSchemaRemoteRef", func(f *justpay.ServiceFields) {
				f.InputSchema = json.RawMessage(`{"$ref": "https://example.com/s.json"}`)
			}, "inputSchema: remote and file $ref are not allowed"},
			{"ErrOutputSchemaFileRef", func(f *justpay.ServiceFields) { f.OutputSchema = json.RawMessage(`{"$ref": "file:///etc/passwd"}`) }, "outputSchema: remote and file $ref are not allowed"},
			{"ErrInputSchemaTooDeep", func(f *justpay.ServiceFields) {
				f.InputSchema = json.RawMessage(strings.Repeat(`{"items":`, 40) + "{}" + strings.Repeat("}", 40))
			}, "inputSchema: nested deeper than 32 levels"},
			{"ErrInputSchemaTooLarge", func(f *justpay.ServiceFields) {
				f.InputSchema = json.RawMessage(`{"description": "` + strings.Repeat("a", justpay.MaxSchemaBytes) + `"}`)
			}, "inputSchema must be at most 65536 bytes"},

			{"ErrExampleInputMismatch", func(f *justpay.ServiceFields) { f.ExampleInput = json.RawMessage(`{"maxBullets": "five"}`) },
				"exampleInput does not match inputSchema: /maxBullets: got string, want number; /text: missing property"},
			{"ErrExampleOutputMismatch", func(f *justpay.ServiceFields) { f.ExampleOutput = json.RawMessage(`{"bullets": [1]}`) },
				"exampleOutput does not match outputSchema: /bullets/0: got number, want string"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := env.Store.CreateService(ctx, owner.ID, listing("Rejected", tc.change))
				wantServiceErr(t, err, justpay.EINVALID, tc.msg)
			})
		}
		if after := env.countServices(t); after != before {
			t.Fatalf("services = %d after refused creations, want %d", after, before)
		}

		t.Run("OKNumbersSurviveTheDatabase", func(t *testing.T) {
			// PostgreSQL's jsonb writes 1e300 out in full; the stored schema must still compile.
			s := env.mustCreate(t, owner.ID, listing("Big numbers", func(f *justpay.ServiceFields) {
				f.InputSchema = json.RawMessage(`{"properties": {"n": {"maximum": 1e300, "multipleOf": 1e-20, "minimum": -1.5E+300}}}`)
				f.ExampleInput = json.RawMessage(`{"n": 5}`)
			}))
			if _, err := env.Store.UpdateService(ctx, owner.ID, s.ID, justpay.ServiceFields{ExampleInput: json.RawMessage(`{"n": 1e299}`)}); err != nil {
				t.Fatal(err)
			}
			_, err := env.Store.UpdateService(ctx, owner.ID, s.ID, justpay.ServiceFields{ExampleInput: json.RawMessage(`{"n": 2e300}`)})
			wantServiceErr(t, err, justpay.EINVALID, "exampleInput does not match inputSchema: /n: maximum")
		})
		t.Run("NULEscapeInSchemaNeverInternal", func(t *testing.T) {
			// PostgreSQL's jsonb refuses \u0000; SQLite keeps it. Either way, never a 500.
			_, err := env.Store.CreateService(ctx, owner.ID, listing("NUL escape", func(f *justpay.ServiceFields) {
				f.InputSchema = json.RawMessage(`{"description": "a\u0000b"}`)
			}))
			if code := justpay.ErrorCode(err); code != "" && code != justpay.EINVALID {
				t.Fatalf("err = %v, want nil or invalid", err)
			}
		})
	})
}

func TestFindServices(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newServiceEnv(t, b)
		alice, _ := env.MustRegister(t, "alice")
		bob, _ := env.MustRegister(t, "bob")

		type spec struct {
			owner, name, description, category, model, provider string
			tags                                                []string
			price                                               int64
			completed, ratings, ratingSum                       int64
		}
		specs := []spec{
			{alice.ID, "GPT-4 Text Summarizer", "Summarizes long documents into bullet points", "text-processing", "gpt-4", "openai", []string{"nlp", "summarization"}, 500, 10, 2, 9},
			{alice.ID, "Translator", "Translates TEXT between forty languages", "text-processing", "claude-3", "anthropic", []string{"nlp", "translation"}, 300, 3, 1, 5},
			{bob.ID, "Logo Maker", "Draws a minimalist logo for your startup", "image-generation", "sdxl", "stability", []string{"images"}, 2000, 0, 0, 0},
			{bob.ID, "100% natural", "Discount calculator: knows that 100% off is free", "math", "", "", []string{"math", "100%"}, 300, 7, 4, 18},
			{bob.ID, "snake_case tool", "Renames identifiers to snake_case with a back\\slash", "text-processing", "gpt-4", "openai", nil, 0, 7, 0, 0},
			{alice.ID, "snakeXcase tool", "Renames identifiers, 1000 off nothing", "text-processing", "gpt-4", "azure", []string{"nlp"}, 500, 1, 2, 9},
		}
		ids := map[string]string{}
		for _, s := range specs {
			svc := env.mustCreate(t, s.owner, listing(s.name, func(f *justpay.ServiceFields) {
				f.Description, f.Category, f.Model, f.ModelProvider = svcPtr(s.description), svcPtr(s.category), svcPtr(s.model), svcPtr(s.provider)
				f.Tags, f.PricePerJob = svcPtr(s.tags), svcPtr(s.price)
			}))
			env.seed(t, svc.ID, s.completed, s.ratings, s.ratingSum)
			ids[s.name] = svc.ID
		}
		gone := env.mustCreate(t, alice.ID, listing("Retired Summarizer", func(f *justpay.ServiceFields) { f.Tags = &[]string{"nlp"} }))
		if _, err := env.Store.DeactivateService(ctx, alice.ID, gone.ID); err != nil {
			t.Fatal(err)
		}
		names := func(t *testing.T, f justpay.ServiceFilter) ([]string, int) {
			t.Helper()
			if f.Page == (justpay.Page{}) {
				f.Page = justpay.Page{Page: 1, Limit: 20}
			}
			got, total, err := env.Store.FindServices(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, s := range got {
				if !s.Active {
					t.Fatalf("inactive service %s listed", s.Name)
				}
				out = append(out, s.Name)
			}
			return out, total
		}
		// Newest first by default: the reverse of creation.
		all := []string{"snakeXcase tool", "snake_case tool", "100% natural", "Logo Maker", "Translator", "GPT-4 Text Summarizer"}
		for _, tc := range []struct {
			name   string
			filter justpay.ServiceFilter
			want   []string
		}{
			{"All", justpay.ServiceFilter{}, all},
			{"Category", justpay.ServiceFilter{Category: "text-processing"}, []string{"snakeXcase tool", "snake_case tool", "Translator", "GPT-4 Text Summarizer"}},
			{"CategoryExact", justpay.ServiceFilter{Category: "Text-Processing"}, []string{}},
			{"CategoryPrefixIsNotEnough", justpay.ServiceFilter{Category: "text"}, []string{}},
			{"SearchNameAnyCase", justpay.ServiceFilter{Search: "sUMMARIZER"}, []string{"GPT-4 Text Summarizer"}},
			{"SearchDescriptionAnyCase", justpay.ServiceFilter{Search: "text between"}, []string{"Translator"}},
			{"SearchNameOrDescription", justpay.ServiceFilter{Search: "text"}, []string{"Translator", "GPT-4 Text Summarizer"}},
			{"SearchPercentLiteral", justpay.ServiceFilter{Search: "100%"}, []string{"100% natural"}},
			{"SearchPercentAlone", justpay.ServiceFilter{Search: "%"}, []string{"100% natural"}},
			{"SearchUnderscoreLiteral", justpay.ServiceFilter{Search: "snake_case"}, []string{"snake_case tool"}},
			{"SearchUnderscoreAlone", justpay.ServiceFilter{Search: "_"}, []string{"snake_case tool"}},
			{"SearchBackslashLiteral", justpay.ServiceFilter{Search: `back\slash`}, []string{"snake_case tool"}},
			{"SearchNothing", justpay.ServiceFilter{Search: "quantum"}, []string{}},
			{"Model", justpay.ServiceFilter{Model: "gpt-4"}, []string{"snakeXcase tool", "snake_case tool", "GPT-4 Text Summarizer"}},
			{"ModelProvider", justpay.ServiceFilter{ModelProvider: "openai"}, []string{"snake_case tool", "GPT-4 Text Summarizer"}},
			{"ModelAndProvider", justpay.ServiceFilter{Model: "gpt-4", ModelProvider: "azure"}, []string{"snakeXcase tool"}},
			{"Tag", justpay.ServiceFilter{Tags: []string{"nlp"}}, []string{"snakeXcase tool", "Translator", "GPT-4 Text Summarizer"}},
			{"EveryTag", justpay.ServiceFilter{Tags: []string{"nlp", "translation"}}, []string{"Translator"}},
			{"TagWithPercent", justpay.ServiceFilter{Tags: []string{"100%"}}, []string{"100% natural"}},
			{"TagMissing", justpay.ServiceFilter{Tags: []string{"nlp", "images"}}, []string{}},
			{"TagExact", justpay.ServiceFilter{Tags: []string{"NLP"}}, []string{}},
			{"MinPrice", justpay.ServiceFilter{MinPrice: svcPtr(int64(500))}, []string{"snakeXcase tool", "Logo Maker", "GPT-4 Text Summarizer"}},
			{"MaxPrice", justpay.ServiceFilter{MaxPrice: svcPtr(int64(300))}, []string{"snake_case tool", "100% natural", "Translator"}},
			{"PriceRange", justpay.ServiceFilter{MinPrice: svcPtr(int64(1)), MaxPrice: svcPtr(int64(500))}, []string{"snakeXcase tool", "100% natural", "Translator", "GPT-4 Text Summarizer"}},
			{"FreeOnly", justpay.ServiceFilter{MinPrice: svcPtr(int64(0)), MaxPrice: svcPtr(int64(0))}, []string{"snake_case tool"}},
			{"Combined", justpay.ServiceFilter{Category: "text-processing", Search: "tool", Tags: []string{"nlp"}, MaxPrice: svcPtr(int64(500))}, []string{"snakeXcase tool"}},

			{"SortNewest", justpay.ServiceFilter{SortBy: justpay.SortNewest}, all},
			// Ties by ID, and IDs grow with creation.
			{"SortPrice", justpay.ServiceFilter{SortBy: justpay.SortPrice},
				[]string{"snake_case tool", "Translator", "100% natural", "GPT-4 Text Summarizer", "snakeXcase tool", "Logo Maker"}},
			// Averages 5, 4.5, 4.5, 4.5; the unrated last, by ID.
			{"SortRating", justpay.ServiceFilter{SortBy: justpay.SortRating},
				[]string{"Translator", "GPT-4 Text Summarizer", "100% natural", "snakeXcase tool", "Logo Maker", "snake_case tool"}},
			{"SortCompletedJobs", justpay.ServiceFilter{SortBy: justpay.SortCompletedJobs},
				[]string{"GPT-4 Text Summarizer", "100% natural", "snake_case tool", "Translator", "snakeXcase tool", "Logo Maker"}},
			{"SortRatingFiltered", justpay.ServiceFilter{SortBy: justpay.SortRating, Category: "math"}, []string{"100% natural"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, total := names(t, tc.filter)
				if !slices.Equal(got, tc.want) || total != len(tc.want) {
					t.Fatalf("services = %q (total %d), want %q", got, total, tc.want)
				}
			})
		}
		t.Run("Pages", func(t *testing.T) {
			var pages []string
			for page := 1; page <= 4; page++ {
				got, total := names(t, justpay.ServiceFilter{SortBy: justpay.SortPrice, Page: justpay.Page{Page: page, Limit: 4}})
				if total != 6 {
					t.Fatalf("page %d total = %d, want 6", page, total)
				}
				if want := min(max(6-(page-1)*4, 0), 4); len(got) != want {
					t.Fatalf("page %d = %q, want %d services", page, got, want)
				}
				pages = append(pages, got...)
			}
			want := []string{"snake_case tool", "Translator", "100% natural", "GPT-4 Text Summarizer", "snakeXcase tool", "Logo Maker"}
			if !slices.Equal(pages, want) {
				t.Fatalf("pages = %q, want %q", pages, want)
			}
			got, total := names(t, justpay.ServiceFilter{Category: "text-processing", Page: justpay.Page{Page: 2, Limit: 3}})
			if total != 4 || !slices.Equal(got, []string{"GPT-4 Text Summarizer"}) {
				t.Fatalf("second page = %q (total %d)", got, total)
			}
		})
		t.Run("DeactivatedStillFoundByID", func(t *testing.T) {
			s, err := env.Store.FindServiceByID(ctx, gone.ID)
			if err != nil || s.Active || s.Name != "Retired Summarizer" {
				t.Fatalf("FindServiceByID = %+v, %v", s, err)
			}
			if got, _ := names(t, justpay.ServiceFilter{Search: "retired"}); len(got) != 0 {
				t.Fatalf("deactivated service discovered: %q", got)
			}
		})
		for _, tc := range []struct {
			name   string
			filter justpay.ServiceFilter
		}{
			{"ErrSortBy", justpay.ServiceFilter{SortBy: "cheapest", Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrPriceRange", justpay.ServiceFilter{MinPrice: svcPtr(int64(5)), MaxPrice: svcPtr(int64(4)), Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrNegativePrice", justpay.ServiceFilter{MinPrice: svcPtr(int64(-1)), Page: justpay.Page{Page: 1, Limit: 20}}},
			{"ErrPage", justpay.ServiceFilter{}},
			{"ErrSearchNUL", justpay.ServiceFilter{Search: "a\x00", Page: justpay.Page{Page: 1, Limit: 20}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := env.Store.FindServices(ctx, tc.filter)
				wantServiceErr(t, err, justpay.EINVALID, "")
			})
		}
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, id := range []string{"", "nope", justpay.NewID(env.Clock.Now()), "'; DROP TABLE services; --"} {
				_, err := env.Store.FindServiceByID(ctx, id)
				wantServiceErr(t, err, justpay.ENOTFOUND, "service not found")
			}
		})
	})
}

func TestFindCategories(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newServiceEnv(t, b)
		got, err := env.Store.FindCategories(ctx)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("categories of an empty marketplace = %#v, %v", got, err)
		}
		owner, _ := env.MustRegister(t, "owner")
		for _, c := range []string{"text-processing", "math", "image-generation", "text-processing", "math", "text-processing", "audio", "retired"} {
			s := env.mustCreate(t, owner.ID, listing("Service in "+c, func(f *justpay.ServiceFields) { f.Category = svcPtr(c) }))
			if c == "retired" || c == "audio" { // inactive services do not count
				if _, err := env.Store.DeactivateService(ctx, owner.ID, s.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		env.mustCreate(t, owner.ID, listing("Second audio", func(f *justpay.ServiceFields) { f.Category = svcPtr("audio") }))
		got, err = env.Store.FindCategories(ctx)
		want := []justpay.CategoryCount{{Category: "text-processing", Count: 3}, {Category: "math", Count: 2},
			{Category: "audio", Count: 1}, {Category: "image-generation", Count: 1}}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("categories = %v, %v; want %v", got, err, want)
		}
	})
}

func TestUpdateService(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newServiceEnv(t, b)
		owner, _ := env.MustRegister(t, "owner")
		other, _ := env.MustRegister(t, "other")
		orig := env.mustCreate(t, owner.ID, listing("Summarizer", func(f *justpay.ServiceFields) {
			f.Tags = &[]string{"nlp"}
			f.ExampleInput = json.RawMessage(`{"text": "hello"}`)
		}))

		t.Run("OK", func(t *testing.T) {
			env.Clock.Advance(time.Minute)
			s, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{
				Name: svcPtr("Summarizer Pro"), PricePerJob: svcPtr(int64(750000)), Tags: &[]string{"nlp", "pro"},
				AutoAccept: svcPtr(false), MaxQueueSize: svcPtr(0), MinClientTrustScore: svcPtr(0.5), Model: svcPtr("gpt-4o"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != "Summarizer Pro" || s.PricePerJob != 750000 || !slices.Equal(s.Tags, []string{"nlp", "pro"}) || s.AutoAccept ||
				s.MaxQueueSize != 0 || s.MinClientTrustScore != 0.5 || s.Model != "gpt-4o" ||
				s.Description != orig.Description || s.Category != orig.Category || s.MaxConcurrentJobs != orig.MaxConcurrentJobs ||
				!s.QueueEnabled || !sameJSON(t, s.ExampleInput, orig.ExampleInput) || !sameJSON(t, s.InputSchema, orig.InputSchema) ||
				!s.CreatedAt.Equal(orig.CreatedAt) || !s.UpdatedAt.Equal(orig.CreatedAt.Add(time.Minute)) {
				t.Fatalf("updated = %+v", s)
			}
			if got, _ := env.Store.FindServiceByID(ctx, orig.ID); !reflect.DeepEqual(got, s) {
				t.Fatalf("stored = %+v, want %+v", got, s)
			}
		})
		t.Run("OKNothing", func(t *testing.T) {
			if _, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("OKClearTags", func(t *testing.T) {
			s, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{Tags: &[]string{}})
			if err != nil || s.Tags == nil || len(s.Tags) != 0 {
				t.Fatalf("updated = %+v, %v", s, err)
			}
		})
		t.Run("ErrSchemaRechecked", func(t *testing.T) {
			_, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{OutputSchema: json.RawMessage(`{"$ref": "http://127.0.0.1:1/x"}`)})
			wantServiceErr(t, err, justpay.EINVALID, "outputSchema: remote and file $ref are not allowed")
			_, err = env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{InputSchema: json.RawMessage(`{"type": 5}`)})
			wantServiceErr(t, err, justpay.EINVALID, "inputSchema: not a valid JSON Schema")
		})
		t.Run("ErrNewSchemaRefusesCurrentExample", func(t *testing.T) {
			_, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{
				InputSchema: json.RawMessage(`{"type": "object", "required": ["document"]}`)})
			wantServiceErr(t, err, justpay.EINVALID, "exampleInput does not match inputSchema: /document: missing property")
		})
		t.Run("ErrNewExampleAgainstCurrentSchema", func(t *testing.T) {
			_, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{ExampleInput: json.RawMessage(`{"text": 1}`)})
			wantServiceErr(t, err, justpay.EINVALID, "exampleInput does not match inputSchema: /text: got number, want string")
			_, err = env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{ExampleOutput: json.RawMessage(`{"bullets": "x"}`)})
			wantServiceErr(t, err, justpay.EINVALID, "exampleOutput does not match outputSchema: /bullets: got string, want array")
		})
		t.Run("OKNewSchemaWithNewExample", func(t *testing.T) {
			s, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{
				InputSchema:  json.RawMessage(`{"type": "object", "required": ["document"]}`),
				ExampleInput: json.RawMessage(`{"document": "hello"}`)})
			if err != nil || !sameJSON(t, s.InputSchema, json.RawMessage(`{"type": "object", "required": ["document"]}`)) ||
				!sameJSON(t, s.ExampleInput, json.RawMessage(`{"document": "hello"}`)) {
				t.Fatalf("updated = %+v, %v", s, err)
			}
		})
		t.Run("OKRemoveExample", func(t *testing.T) {
			s, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{ExampleInput: json.RawMessage(`null`)})
			if err != nil || s.ExampleInput != nil {
				t.Fatalf("updated = %+v, %v", s, err)
			}
		})
		before, _ := env.Store.FindServiceByID(ctx, orig.ID)
		for _, tc := range []struct {
			name string
			f    justpay.ServiceFields
			msg  string
		}{
			{"ErrEmptyName", justpay.ServiceFields{Name: svcPtr("")}, "name must be 2-100"},
			{"ErrEmptyDescription", justpay.ServiceFields{Description: svcPtr("")}, "description must be 10-2000"},
			{"ErrEmptyCategory", justpay.ServiceFields{Category: svcPtr(" ")}, "category must be 2-50"},
			{"ErrRemoveSchema", justpay.ServiceFields{InputSchema: json.RawMessage(`null`)}, "inputSchema cannot be removed"},
			{"ErrPrice", justpay.ServiceFields{PricePerJob: svcPtr(int64(-1))}, "pricePerJob"},
			{"ErrConcurrency", justpay.ServiceFields{MaxConcurrentJobs: svcPtr(0)}, "maxConcurrentJobs"},
			{"ErrTags", justpay.ServiceFields{Tags: svcPtr(make([]string, 11))}, "tags"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, tc.f)
				wantServiceErr(t, err, justpay.EINVALID, tc.msg)
			})
		}
		t.Run("ErrNotOwner", func(t *testing.T) {
			for _, id := range []string{orig.ID, "nope", justpay.NewID(env.Clock.Now())} {
				_, err := env.Store.UpdateService(ctx, other.ID, id, justpay.ServiceFields{Name: svcPtr("Stolen")})
				wantServiceErr(t, err, justpay.ENOTFOUND, "service not found")
			}
		})
		if after, _ := env.Store.FindServiceByID(ctx, orig.ID); !reflect.DeepEqual(after, before) {
			t.Fatalf("refused updates changed the service:\n%+v\nwant\n%+v", after, before)
		}
		t.Run("OKInactive", func(t *testing.T) {
			if _, err := env.Store.DeactivateService(ctx, owner.ID, orig.ID); err != nil {
				t.Fatal(err)
			}
			s, err := env.Store.UpdateService(ctx, owner.ID, orig.ID, justpay.ServiceFields{Description: svcPtr("Still being edited after retirement")})
			if err != nil || s.Active || s.Description != "Still being edited after retirement" {
				t.Fatalf("updated = %+v, %v", s, err)
			}
		})
	})
}

func TestDeactivateService(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newServiceEnv(t, b)
		owner, _ := env.MustRegister(t, "owner")
		other, _ := env.MustRegister(t, "other")
		svc := env.mustCreate(t, owner.ID, listing("Summarizer"))
		page := justpay.Page{Page: 1, Limit: 20}

		t.Run("ErrNotOwner", func(t *testing.T) {
			for _, id := range []string{svc.ID, "nope", justpay.NewID(env.Clock.Now())} {
				_, err := env.Store.DeactivateService(ctx, other.ID, id)
				wantServiceErr(t, err, justpay.ENOTFOUND, "service not found")
			}
		})
		t.Run("OK", func(t *testing.T) {
			env.Clock.Advance(time.Minute)
			s, err := env.Store.DeactivateService(ctx, owner.ID, svc.ID)
			if err != nil || s.Active || !s.UpdatedAt.Equal(svc.CreatedAt.Add(time.Minute)) {
				t.Fatalf("deactivated = %+v, %v", s, err)
			}
			if found, total, err := env.Store.FindServices(ctx, justpay.ServiceFilter{Page: page}); err != nil || total != 0 || len(found) != 0 {
				t.Fatalf("discover = %v (total %d), %v; want nothing", found, total, err)
			}
			if cats, err := env.Store.FindCategories(ctx); err != nil || len(cats) != 0 {
				t.Fatalf("categories = %v, %v; want none", cats, err)
			}
			if got, err := env.Store.FindServiceByID(ctx, svc.ID); err != nil || got.Active {
				t.Fatalf("FindServiceByID = %+v, %v", got, err)
			}
		})
		t.Run("ErrTwice", func(t *testing.T) {
			_, err := env.Store.DeactivateService(ctx, owner.ID, svc.ID)
			wantServiceErr(t, err, justpay.ECONFLICT, "already inactive")
		})
		t.Run("ErrNotOwnerOfInactive", func(t *testing.T) {
			_, err := env.Store.DeactivateService(ctx, other.ID, svc.ID)
			wantServiceErr(t, err, justpay.ENOTFOUND, "service not found")
		})
		t.Run("ConcurrentOneWins", func(t *testing.T) {
			s := env.mustCreate(t, owner.ID, listing("Contested"))
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() { _, errs[i] = env.Store.DeactivateService(ctx, owner.ID, s.ID) })
			}
			wg.Wait()
			var ok, conflict int
			for _, err := range errs {
				switch justpay.ErrorCode(err) {
				case "":
					ok++
				case justpay.ECONFLICT:
					conflict++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
			if ok != 1 || conflict != len(errs)-1 {
				t.Fatalf("%d succeeded and %d conflicted, want 1 and %d", ok, conflict, len(errs)-1)
			}
		})
	})
}
