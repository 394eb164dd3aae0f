package httpapi_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of the service routes, on SQLite and (with JUSTPAY_TEST_POSTGRES) PostgreSQL.

// unknownID has the form of an ID but names nothing: it reaches the database.
const unknownID = "c000000000000000000000000"

const (
	summarizerInput  = `{"type":"object","properties":{"text":{"type":"string","description":"Text to summarize"},"maxBullets":{"type":"number","description":"Max bullet points"}},"required":["text"]}`
	summarizerOutput = `{"type":"object","properties":{"bullets":{"type":"array","items":{"type":"string"}}}}`
)

// serviceBody is the spec's example service with the fields of over replaced (a nil value
// removes the field).
func serviceBody(over map[string]any) map[string]any {
	body := map[string]any{
		"name":                 "GPT-4 Text Summarizer",
		"description":          "Summarizes long documents into concise bullet points",
		"category":             "text-processing",
		"tags":                 []string{"summarization", "nlp", "gpt-4"},
		"inputSchema":          json.RawMessage(summarizerInput),
		"outputSchema":         json.RawMessage(summarizerOutput),
		"pricePerJob":          500000,
		"maxExecutionTimeSecs": 60,
		"autoAccept":           true,
	}
	for k, v := range over {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

// createService lists a service for ag through the API and returns its ID.
func (a *api) createService(tb testing.TB, ag agent, over map[string]any) string {
	tb.Helper()
	got := a.must(tb, http.StatusCreated, "POST", "/api/v1/services", ag.Key, serviceBody(over))
	return str(got["id"])
}

// serviceFields are the fields of the service JSON, sorted.
var serviceFields = []string{"active", "agentId", "autoAccept", "averageRating", "category", "completedJobs", "createdAt",
	"description", "exampleInput", "exampleOutput", "id", "inputSchema", "maxConcurrentJobs", "maxExecutionTimeSecs",
	"maxQueueSize", "minClientTrustScore", "model", "modelProvider", "name", "outputSchema", "pricePerJob", "queueEnabled",
	"ratingCount", "tags", "updatedAt"}

// wantService checks the shape of a service and the given fields.
func wantService(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if got := sortedKeys(r.JSON); !slices.Equal(got, serviceFields) {
			t.Errorf("service fields = %v, want %v", got, serviceFields)
		}
		wantFields(t, r.JSON, want)
	}
}

// jsonValue decodes s into the generic form JSON bodies take in tests.
func jsonValue(tb testing.TB, s string) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// notActivatedCases are one 403 case per activated route, called by an agent that is registered
// but not activated.
func notActivatedCases(key string, routes ...[2]string) []statusCase {
	var cs []statusCase
	for _, rt := range routes {
		cs = append(cs, statusCase{name: "ErrForbiddenNotActivated" + rt[0] + rt[1], method: rt[0], path: rt[1], key: key,
			body: `{}`, want: http.StatusForbidden, check: wantError("activat")})
	}
	return cs
}

func TestStatusCreateService(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "svc-owner", 2*usdc)
		idle := a.register(t, "svc-idle")
		const path = "/api/v1/services"
		create := func(name string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: owner.Key, body: body, want: want, check: check}
		}
		tags11 := make([]string, 11)
		for i := range tags11 {
			tags11[i] = "t" + string(rune('a'+i))
		}
		cases := []statusCase{
			create("OK", serviceBody(nil), http.StatusCreated, func(t *testing.T, r response) {
				wantService(map[string]any{
					"agentId": owner.ID, "name": "GPT-4 Text Summarizer", "category": "text-processing",
					"tags": []any{"summarization", "nlp", "gpt-4"}, "inputSchema": jsonValue(t, summarizerInput),
					"outputSchema": jsonValue(t, summarizerOutput), "exampleInput": nil, "exampleOutput": nil,
					"model": nil, "modelProvider": nil, "pricePerJob": "500000", "maxExecutionTimeSecs": 60.0,
					"autoAccept": true, "maxConcurrentJobs": 5.0, "queueEnabled": true, "maxQueueSize": 20.0,
					"minClientTrustScore": 0.0, "active": true, "completedJobs": 0.0, "averageRating": nil, "ratingCount": 0.0,
					"createdAt": "2026-02-09T12:00:00.000Z", "updatedAt": "2026-02-09T12:00:00.000Z",
				})(t, r)
				if !strings.HasPrefix(str(r.JSON["id"]), "c") {
					t.Errorf("id = %v", r.JSON["id"])
				}
			}),
			create("OKEveryField", serviceBody(map[string]any{
				"exampleInput": map[string]any{"text": "long text"}, "exampleOutput": map[string]any{"bullets": []string{"short"}},
				"model": "gpt-4", "modelProvider": "openai", "maxConcurrentJobs": 100, "queueEnabled": false, "maxQueueSize": 0,
				"minClientTrustScore": 0.5, "autoAccept": false, "maxExecutionTimeSecs": 3600, "tags": []string{},
			}), http.StatusCreated, wantService(map[string]any{
				"exampleInput": map[string]any{"text": "long text"}, "exampleOutput": map[string]any{"bullets": []any{"short"}},
				"model": "gpt-4", "modelProvider": "openai", "maxConcurrentJobs": 100.0, "queueEnabled": false, "maxQueueSize": 0.0,
				"minClientTrustScore": 0.5, "autoAccept": false, "maxExecutionTimeSecs": 3600.0, "tags": []any{},
			})),
			create("OKFree", serviceBody(map[string]any{"pricePerJob": 0}), http.StatusCreated, wantService(map[string]any{"pricePerJob": "0"})),
			create("OKDefaults", serviceBody(map[string]any{"tags": nil, "maxExecutionTimeSecs": nil, "autoAccept": nil}), http.StatusCreated,
				wantService(map[string]any{"tags": []any{}, "maxExecutionTimeSecs": 300.0, "autoAccept": true, "maxConcurrentJobs": 5.0,
					"queueEnabled": true, "maxQueueSize": 20.0, "minClientTrustScore": 0.0})),
			create("OKNullOptionalsAreDefaults", serviceBody(map[string]any{"model": json.RawMessage("null"), "exampleInput": json.RawMessage("null"),
				"autoAccept": json.RawMessage("null")}), http.StatusCreated, wantService(map[string]any{"model": nil, "exampleInput": nil, "autoAccept": true})),
			create("OKMinExecutionTime", serviceBody(map[string]any{"maxExecutionTimeSecs": 5}), http.StatusCreated, nil),
		}
		for _, f := range []string{"name", "description", "category", "inputSchema", "outputSchema", "pricePerJob"} {
			cases = append(cases,
				create("ErrInvalidMissing_"+f, serviceBody(map[string]any{f: nil}), http.StatusBadRequest, wantError(f, "required")),
				create("ErrInvalidNull_"+f, serviceBody(map[string]any{f: json.RawMessage("null")}), http.StatusBadRequest, wantError(f)))
		}
		for _, c := range []struct {
			name  string
			field string
			value any
		}{
			{"NameTooShort", "name", "a"},
			{"NameTooLong", "name", strings.Repeat("n", 101)},
			{"NameNUL", "name", "a\u0000b"},
			{"DescriptionTooShort", "description", "too short"},
			{"DescriptionTooLong", "description", strings.Repeat("d", 2001)},
			{"CategoryTooShort", "category", "c"},
			{"CategoryTooLong", "category", strings.Repeat("c", 51)},
			{"TooManyTags", "tags", tags11},
			{"EmptyTag", "tags", []string{""}},
			{"TagTooLong", "tags", []string{strings.Repeat("t", 51)}},
			{"TagsNotArray", "tags", "a,b"},
			{"ModelTooLong", "model", strings.Repeat("m", 101)},
			{"PriceNegative", "pricePerJob", json.RawMessage("-1")},
			{"PriceFraction", "pricePerJob", json.RawMessage("0.5")},
			{"PriceString", "pricePerJob", "500000"},
			{"PriceExponent", "pricePerJob", json.RawMessage("5e5")},
			{"ExecutionTimeTooShort", "maxExecutionTimeSecs", 4},
			{"ExecutionTimeTooLong", "maxExecutionTimeSecs", 3601},
			{"ExecutionTimeFraction", "maxExecutionTimeSecs", 60.5},
			{"ConcurrentZero", "maxConcurrentJobs", 0},
			{"ConcurrentTooMany", "maxConcurrentJobs", 101},
			{"QueueNegative", "maxQueueSize", -1},
			{"QueueTooLarge", "maxQueueSize", 1001},
			{"TrustAboveOne", "minClientTrustScore", 1.5},
			{"TrustNegative", "minClientTrustScore", -0.1},
			{"AutoAcceptString", "autoAccept", "yes"},
			{"InputSchemaNotASchema", "inputSchema", map[string]any{"type": 42}},
			{"InputSchemaString", "inputSchema", "text"},
			{"OutputSchemaBadRequired", "outputSchema", map[string]any{"required": "bullets"}},
			{"InputSchemaRemoteRef", "inputSchema", map[string]any{"$ref": "https://example.com/schema.json"}},
		} {
			cases = append(cases, create("ErrInvalid"+c.name, serviceBody(map[string]any{c.field: c.value}), http.StatusBadRequest, wantError(c.field)))
		}
		cases = append(cases,
			create("ErrInvalidUnknownField", serviceBody(map[string]any{"active": false}), http.StatusBadRequest, wantError("unknown field")),
			create("ErrInvalidEmptyBody", ``, http.StatusBadRequest, nil),
			create("ErrInvalidSyntax", `{"name":`, http.StatusBadRequest, nil),
			create("ErrInvalidArray", `[]`, http.StatusBadRequest, nil),
			statusCase{name: "ErrUnauthorized", method: "POST", path: path, body: serviceBody(nil), want: http.StatusUnauthorized},
			statusCase{name: "ErrForbiddenNotActivated", method: "POST", path: path, key: idle.Key, body: serviceBody(nil), want: http.StatusForbidden},
		)
		statuses := a.table(t, &owner, cases)
		created := 0
		for _, s := range statuses {
			if s == http.StatusCreated {
				created++
			}
		}
		got := a.must(t, http.StatusOK, "GET", "/api/v1/services/discover?limit=100", "", nil)
		if total := got["pagination"].(map[string]any)["total"]; total != float64(created) {
			t.Errorf("%v services listed, want the %d created: rejected requests must create none", total, created)
		}
	})
}

func TestStatusServices(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner, _ := a.activated(t, "svc-seller", 2*usdc)
		other, _ := a.activated(t, "svc-other", 2*usdc)
		idle := a.register(t, "svc-idle")
		summarizer := a.createService(t, owner, map[string]any{"model": "gpt-4", "modelProvider": "openai"})
		a.Clock.Advance(time.Second)
		translator := a.createService(t, owner, map[string]any{"name": "French Translator", "description": "Translates English text into French",
			"category": "translation", "tags": []string{"nlp", "french"}, "pricePerJob": 2000000, "model": "claude-3", "modelProvider": "anthropic"})
		a.Clock.Advance(time.Second)
		painter := a.createService(t, other, map[string]any{"name": "Logo Painter", "description": "Draws minimalist logos for startups",
			"category": "image-generation", "tags": []string{"logo"}, "pricePerJob": 0})
		a.Clock.Advance(time.Second)
		cheap := a.createService(t, other, map[string]any{"name": "Cheap Summaries", "description": "Summarizes SHORT texts, cheaply",
			"tags": []string{"cheap"}, "pricePerJob": 100000})

		const discover = "/api/v1/services/discover"
		ids := func(want ...string) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				t.Helper()
				var got []string
				for _, s := range r.JSON["services"].([]any) {
					got = append(got, str(s.(map[string]any)["id"]))
				}
				if !slices.Equal(got, want) {
					t.Errorf("services = %v, want %v", got, want)
				}
			}
		}
		get := func(name, path string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "GET", path: path, want: want, check: check}
		}
		svc := func(id string) string { return "/api/v1/services/" + id }
		patch := func(name, key, id string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "PATCH", path: svc(id), key: key, body: body, want: want, check: check}
		}
		cases := []statusCase{
			get("DiscoverOKNewestFirst", discover, http.StatusOK, func(t *testing.T, r response) {
				ids(cheap, painter, translator, summarizer)(t, r)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 4.0, "totalPages": 1.0}})
				first := r.JSON["services"].([]any)[0].(map[string]any)
				if got := sortedKeys(first); !slices.Equal(got, serviceFields) {
					t.Errorf("service fields = %v", got)
				}
			}),
			get("DiscoverOKNoKeyNeeded", discover+"?sortBy=newest", http.StatusOK, ids(cheap, painter, translator, summarizer)),
			get("DiscoverOKPaged", discover+"?limit=1&page=2", http.StatusOK, func(t *testing.T, r response) {
				ids(painter)(t, r)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 2.0, "limit": 1.0, "total": 4.0, "totalPages": 4.0}})
			}),
			get("DiscoverOKCategory", discover+"?category=text-processing", http.StatusOK, ids(cheap, summarizer)),
			get("DiscoverOKSearchCaseInsensitive", discover+"?search=short", http.StatusOK, ids(cheap)),
			get("DiscoverOKSearchDescription", discover+"?search=FRENCH", http.StatusOK, ids(translator)),
			get("DiscoverOKSearchPercentIsLiteral", discover+"?search=%25", http.StatusOK, ids()),
			get("DiscoverOKModel", discover+"?model=gpt-4", http.StatusOK, ids(summarizer)),
			get("DiscoverOKModelProvider", discover+"?modelProvider=anthropic", http.StatusOK, ids(translator)),
			get("DiscoverOKTag", discover+"?tags=nlp", http.StatusOK, ids(translator, summarizer)),
			get("DiscoverOKTagsAll", discover+"?tags=nlp,french", http.StatusOK, ids(translator)),
			get("DiscoverOKTagsSpaces", discover+"?tags=%20nlp%20,%20gpt-4", http.StatusOK, ids(summarizer)),
			get("DiscoverOKMinPrice", discover+"?minPrice=500000", http.StatusOK, ids(translator, summarizer)),
			get("DiscoverOKMaxPrice", discover+"?maxPrice=100000", http.StatusOK, ids(cheap, painter)),
			get("DiscoverOKPriceRange", discover+"?minPrice=1&maxPrice=500000", http.StatusOK, ids(cheap, summarizer)),
			get("DiscoverOKSortPrice", discover+"?sortBy=price", http.StatusOK, ids(painter, cheap, summarizer, translator)),
			get("DiscoverOKNoMatch", discover+"?category=nothing-here", http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"services": []any{}, "pagination": map[string]any{"page": 1.0, "limit": 20.0, "total": 0.0, "totalPages": 0.0}})
			}),
			get("DiscoverErrInvalidMinPrice", discover+"?minPrice=abc", http.StatusBadRequest, wantError("minPrice")),
			get("DiscoverErrInvalidMaxPriceFraction", discover+"?maxPrice=1.5", http.StatusBadRequest, wantError("maxPrice")),
			get("DiscoverErrInvalidMaxPriceOverflow", discover+"?maxPrice=99999999999999999999", http.StatusBadRequest, wantError("maxPrice")),
			get("DiscoverErrInvalidMinPriceNegative", discover+"?minPrice=-1", http.StatusBadRequest, wantError("minPrice")),
			get("DiscoverErrInvalidPriceRange", discover+"?minPrice=2&maxPrice=1", http.StatusBadRequest, wantError("minPrice")),
			get("DiscoverErrInvalidSearchTooLong", discover+"?search="+strings.Repeat("s", 201), http.StatusBadRequest, wantError("search")),
			get("DiscoverErrInvalidSortBy", discover+"?sortBy=bogus", http.StatusBadRequest, wantError("sortBy")),
			get("DiscoverErrInvalidLimit", discover+"?limit=101", http.StatusBadRequest, wantError("limit")),
			get("DiscoverErrInvalidPage", discover+"?page=0", http.StatusBadRequest, wantError("page")),
			{name: "DiscoverNULInSearchNever500", method: "GET", path: discover + "?search=%00", want: http.StatusOK, orWant: []int{http.StatusBadRequest}},

			get("CategoriesOK", "/api/v1/services/categories", http.StatusOK, func(t *testing.T, r response) {
				want := []any{
					map[string]any{"category": "text-processing", "count": 2.0},
					map[string]any{"category": "image-generation", "count": 1.0},
					map[string]any{"category": "translation", "count": 1.0},
				}
				got, _ := r.JSON["categories"].([]any)
				if len(got) != 3 || !slices.ContainsFunc(got, func(c any) bool { return maps.Equal(c.(map[string]any), want[0].(map[string]any)) }) ||
					str(got[0].(map[string]any)["category"]) != "text-processing" {
					t.Errorf("categories = %v, want %v (largest first)", got, want)
				}
			}),

			get("GetOK", svc(summarizer), http.StatusOK, wantService(map[string]any{"id": summarizer, "agentId": owner.ID, "model": "gpt-4", "modelProvider": "openai"})),
			{name: "GetOKWithKey", method: "GET", path: svc(summarizer), key: other.Key, want: http.StatusOK},
			get("GetErrNotFoundUnknown", svc(unknownID), http.StatusNotFound, nil),
			get("GetErrNotFoundMalformed", svc("nope"), http.StatusNotFound, nil),
			get("GetErrNotFoundNUL", svc("%00"), http.StatusNotFound, nil),
			get("GetErrNotFoundInvalidUTF8", svc("%FF"), http.StatusNotFound, nil),

			patch("PatchOK", owner.Key, summarizer, `{"name":"Summarizer v2","pricePerJob":750000,"tags":["v2"],"maxConcurrentJobs":2,"autoAccept":false}`, http.StatusOK,
				wantService(map[string]any{"id": summarizer, "name": "Summarizer v2", "pricePerJob": "750000", "tags": []any{"v2"},
					"maxConcurrentJobs": 2.0, "autoAccept": false, "model": "gpt-4", "category": "text-processing"})),
			patch("PatchOKEmptyObject", owner.Key, summarizer, `{}`, http.StatusOK, wantService(map[string]any{"name": "Summarizer v2", "pricePerJob": "750000"})),
			patch("PatchOKExamples", owner.Key, summarizer, `{"exampleInput":{"text":"hello"},"exampleOutput":{"bullets":["hi"]}}`, http.StatusOK,
				wantService(map[string]any{"exampleInput": map[string]any{"text": "hello"}, "exampleOutput": map[string]any{"bullets": []any{"hi"}}})),
			patch("PatchOKNullClears", owner.Key, summarizer, `{"tags":null,"model":null,"modelProvider":null,"exampleInput":null,"exampleOutput":null}`, http.StatusOK,
				wantService(map[string]any{"tags": []any{}, "model": nil, "modelProvider": nil, "exampleInput": nil, "exampleOutput": nil, "name": "Summarizer v2"})),
			patch("PatchOKFree", owner.Key, summarizer, `{"pricePerJob":0}`, http.StatusOK, wantService(map[string]any{"pricePerJob": "0"})),
			patch("PatchOKSchemas", owner.Key, summarizer, map[string]any{"inputSchema": json.RawMessage(`{"type":"object"}`)}, http.StatusOK,
				wantService(map[string]any{"inputSchema": map[string]any{"type": "object"}})),
		}
		for _, f := range []string{"name", "description", "category", "inputSchema", "outputSchema", "pricePerJob", "maxExecutionTimeSecs",
			"autoAccept", "maxConcurrentJobs", "queueEnabled", "maxQueueSize", "minClientTrustScore"} {
			cases = append(cases, patch("PatchErrInvalidNull_"+f, owner.Key, summarizer, `{"`+f+`":null}`, http.StatusBadRequest, wantError(f)))
		}
		cases = append(cases,
			patch("PatchErrInvalidNameTooShort", owner.Key, summarizer, `{"name":"x"}`, http.StatusBadRequest, wantError("name")),
			patch("PatchErrInvalidExecutionTime", owner.Key, summarizer, `{"maxExecutionTimeSecs":3601}`, http.StatusBadRequest, wantError("maxExecutionTimeSecs")),
			patch("PatchErrInvalidPriceNegative", owner.Key, summarizer, `{"pricePerJob":-5}`, http.StatusBadRequest, wantError("pricePerJob")),
			patch("PatchErrInvalidSchema", owner.Key, summarizer, `{"outputSchema":{"type":"nope"}}`, http.StatusBadRequest, wantError("outputSchema")),
			patch("PatchErrInvalidUnknownField", owner.Key, summarizer, `{"active":true}`, http.StatusBadRequest, wantError("unknown field")),
			patch("PatchErrInvalidUnknownFieldAgent", owner.Key, summarizer, `{"agentId":"`+other.ID+`"}`, http.StatusBadRequest, wantError("unknown field")),
			patch("PatchErrInvalidWrongType", owner.Key, summarizer, `{"name":5}`, http.StatusBadRequest, wantError("name")),
			patch("PatchErrInvalidEmptyBody", owner.Key, summarizer, ``, http.StatusBadRequest, nil),
			patch("PatchErrNotFoundOthersService", other.Key, summarizer, `{"name":"Hijacked"}`, http.StatusNotFound, nil),
			patch("PatchErrNotFoundUnknown", owner.Key, unknownID, `{"name":"Nothing"}`, http.StatusNotFound, nil),
			patch("PatchErrNotFoundMalformed", owner.Key, "nope", `{"name":"Nothing"}`, http.StatusNotFound, nil),
			patch("PatchErrUnauthorized", "", summarizer, `{"name":"Anonymous"}`, http.StatusUnauthorized, nil),
			get("RejectedPatchesChangedNothing", svc(summarizer), http.StatusOK, wantService(map[string]any{"name": "Summarizer v2",
				"agentId": owner.ID, "pricePerJob": "0", "active": true, "maxExecutionTimeSecs": 60.0})),

			statusCase{name: "DeleteErrNotFoundOthersService", method: "DELETE", path: svc(summarizer), key: other.Key, want: http.StatusNotFound},
			statusCase{name: "DeleteErrNotFoundUnknown", method: "DELETE", path: svc(unknownID), key: owner.Key, want: http.StatusNotFound},
			statusCase{name: "DeleteErrUnauthorized", method: "DELETE", path: svc(summarizer), want: http.StatusUnauthorized},
			statusCase{name: "DeleteErrInvalidBody", method: "DELETE", path: svc(summarizer), key: owner.Key, body: `{"force":true}`, want: http.StatusBadRequest},
			statusCase{name: "DeleteOK", method: "DELETE", path: svc(summarizer), key: owner.Key, want: http.StatusOK,
				check: wantService(map[string]any{"id": summarizer, "active": false, "name": "Summarizer v2"})},
			statusCase{name: "DeleteErrConflictAlreadyInactive", method: "DELETE", path: svc(summarizer), key: owner.Key, want: http.StatusConflict},
			get("GetOKInactive", svc(summarizer), http.StatusOK, wantService(map[string]any{"active": false})),
			get("DiscoverHidesInactive", discover, http.StatusOK, ids(cheap, painter, translator)),
			get("CategoriesCountActiveOnly", "/api/v1/services/categories", http.StatusOK, func(t *testing.T, r response) {
				for _, c := range r.JSON["categories"].([]any) {
					if m := c.(map[string]any); m["category"] == "text-processing" && m["count"] != 1.0 {
						t.Errorf("text-processing = %v, want 1 active", m)
					}
				}
			}),
		)
		cases = append(cases, notActivatedCases(idle.Key,
			[2]string{"POST", "/api/v1/services"}, [2]string{"PATCH", svc(translator)}, [2]string{"DELETE", svc(translator)})...)
		a.table(t, nil, cases)
	})
}
