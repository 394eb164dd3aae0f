package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// fuzzField returns a template that puts the fuzzed bytes into field of base: as a raw JSON value
// when raw, else as a JSON string.
func fuzzField(base map[string]any, field string, raw bool) func(b []byte) string {
	const mark = "FUZZ_FIELD_MARK"
	body := map[string]any{}
	for k, v := range base {
		body[k] = v
	}
	body[field] = mark
	tmpl, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return func(b []byte) string {
		v := jsonString(b)
		if raw {
			v = jsonRaw(b)
		}
		return strings.Replace(string(tmpl), `"`+mark+`"`, v, 1)
	}
}

// marketFixtures are the jobs, disputes and reports FuzzMarketEndpoints aims at, in the state each
// endpoint needs. The fuzzer moves them on (a dispute filed, a job delivered), so they are made
// anew every few inputs.
type marketFixtures struct {
	accepted  string // a job the main agent provides, waiting for its delivery
	delivered string // a job the main agent provides, delivered, in its review window
	completed string // a job the main agent provided and got paid for, to rate
	dispute   string // an open dispute over a job the main agent provides
	open      string // another agent's open job taking applications
	report    string // a pending report against the main agent
	proposal  string // another agent's open proposal
}

// FuzzMarketEndpoints is FuzzWriteEndpoints for the marketplace: services, jobs, disputes and
// their admin rulings, ratings, reports, proposals, agent restrictions and webhooks. Fuzzed bodies
// go to the real server over a real SQLite store as the main agent, the admin, a fresh agent or no
// one; whatever the input, nothing answers 5xx or panics, every error is {"error": "<message>"},
// and the ledger invariant holds throughout.
//
// The selector byte picks: bits 0-3 the endpoint, bits 4-5 the caller (on admin routes the admin,
// the main agent, a fresh agent or no one; elsewhere main, the admin token, fresh or no one),
// bit 6 the endpoint's template (a well-formed body around the fuzzed bytes) instead of the raw
// bytes, bit 7 an Idempotency-Key made from the input. In paths and bodies, $ACCEPTED, $DELIVERED,
// $COMPLETED, $DISPUTE, $OPEN, $REPORT and $PROPOSAL are the fixtures, $SVC the main agent's
// spare service (never hired by the fixtures), $OTHERSVC the other agent's service and $VICTIM an
// agent only the fuzzer touches.
//
// The main agent is the provider of every fixture job and files its disputes as the provider, so
// that client-abuse protection never stops the fixtures from being made; the other agent, which
// hires it, is refilled when it runs low. Each refresh first advances the clock past every job
// deadline and rules on the last fixture dispute, so that no service fills up with running jobs.
func FuzzMarketEndpoints(f *testing.F) {
	service := serviceBody(nil)
	job := directJob("$OTHERSVC")
	open := openJob(1_000_000, map[string]any{"applicationWindow": 3600})
	endpoints := []fuzzEndpoint{
		{method: "POST", path: "/api/v1/services", template: fuzzField(service, "pricePerJob", true)},
		{method: "PATCH", path: "/api/v1/services/$SVC", template: fuzzField(map[string]any{}, "inputSchema", true)},
		{method: "POST", path: "/api/v1/jobs", template: fuzzField(job, "input", true)},
		{method: "POST", path: "/api/v1/jobs", template: fuzzField(open, "amount", true)},
		{method: "POST", path: "/api/v1/jobs/$ACCEPTED/deliver", template: fuzzField(map[string]any{}, "output", true)},
		{method: "POST", path: "/api/v1/jobs/$DELIVERED/dispute", template: fuzzField(map[string]any{"reason": "quality"}, "description", false)},
		{method: "POST", path: "/api/v1/admin/disputes/$DISPUTE/resolve", template: fuzzField(map[string]any{"note": "ruled"}, "outcome", false)},
		{method: "POST", path: "/api/v1/jobs/$COMPLETED/rate", template: fuzzField(map[string]any{"comment": "fine"}, "score", true)},
		{method: "POST", path: "/api/v1/jobs/$OPEN/apply", template: fuzzField(map[string]any{}, "message", false)},
		{method: "POST", path: "/api/v1/reports", template: fuzzField(map[string]any{"targetType": "agent", "reason": "spam"}, "targetId", false)},
		{method: "POST", path: "/api/v1/admin/reports/$REPORT/", pathArg: true},
		{method: "POST", path: "/api/v1/proposals", template: fuzzField(map[string]any{"description": "A fuzzed proposal body", "category": "feature"}, "title", false)},
		{method: "POST", path: "/api/v1/proposals/$PROPOSAL/", pathArg: true},
		{method: "POST", path: "/api/v1/admin/agents/$VICTIM/", pathArg: true},
		{method: "PATCH", path: "/api/v1/agents/me", template: fuzzField(map[string]any{}, "callbackUrl", false)},
		{method: "POST", path: "/api/v1/webhooks/secret/", pathArg: true},
	}
	seeds := [][]string{
		{`{"name":"Fuzz svc","description":"d","category":"fuzz","pricePerJob":1000,"inputSchema":{},"outputSchema":{}}`, `{}`, `[]`,
			`{"name":"x","pricePerJob":-1}`, `{"name":"Fuzz svc","description":"d","category":"fuzz","pricePerJob":1000,"inputSchema":{"$ref":"http://x"},"outputSchema":{}}`},
		{`{"pricePerJob":2000}`, `{"inputSchema":{"type":"object","required":["a"]}}`, `{"maxConcurrentJobs":0}`, `{"name":null}`, `{}`, `{"inputSchema":"x"}`},
		{`{"type":"direct","serviceId":"$OTHERSVC","input":{"text":"t"}}`, `{"type":"direct","serviceId":"$OTHERSVC"}`,
			`{"type":"direct","serviceId":"$SVC","input":{"text":"t"}}`, `{"type":"direct","serviceId":"nope","input":{}}`,
			`{"type":"direct","serviceId":"$OTHERSVC","input":{"text":"t"},"callbackUrl":"http://127.0.0.1/x"}`, `{"type":"both"}`},
		{`{"type":"open","title":"Open fuzz","category":"fuzz","description":"An open fuzz job here","amount":1000000,"applicationWindow":60}`,
			`{"type":"open","amount":1}`, `{"type":"open","title":"t","amount":1e6,"applicationWindow":59}`},
		{`{"output":{"bullets":["a"]}}`, `{"output":{"bullets":"a"}}`, `{}`, `{"output":null}`},
		{`{"reason":"quality","description":"bad"}`, `{"reason":"fraud"}`, `{"reason":"Quality"}`, `{"reason":"other","description":"` + strings.Repeat("d", 1001) + `"}`, `{}`},
		{`{"outcome":"split"}`, `{"outcome":"claimant","note":"n"}`, `{"outcome":"respondent"}`, `{"outcome":"both"}`, `{}`, `{"outcome":"split","extra":1}`},
		{`{"score":5,"comment":"great","tags":["fast"]}`, `{"score":0}`, `{"score":6}`, `{"score":4.5}`, `{"score":3,"tags":["a","b","c","d","e","f"]}`},
		{`{"message":"pick me"}`, `{}`, `{"message":"` + strings.Repeat("m", 2001) + `"}`},
		{`{"targetType":"agent","targetId":"$VICTIM","reason":"spam"}`, `{"targetType":"job","targetId":"$COMPLETED","reason":"fraud"}`,
			`{"targetType":"service","targetId":"$SVC","reason":"illegal"}`, `{"targetType":"agent","targetId":"nope","reason":"spam"}`, `{"targetType":"planet"}`},
		{`dismiss`, `action`, `nope`, ``, "\x00"},
		{`{"title":"Fuzzed idea","description":"Something worth voting for","category":"tooling"}`, `{"title":"abc"}`, `{"title":"  ","description":"          ","category":"bug"}`},
		{`vote`, `status`, ``, `../vote`},
		{`verify`, `unverify`, `restrict`, `unrestrict`, `audit`},
		{`{"callbackUrl":"https://hooks.example/x"}`, `{"callbackUrl":"ftp://x"}`, `{"callbackUrl":"http://[::1]/"}`, `{"callbackUrl":null}`},
		{`rotate`, `nope`, ``},
	}
	templated := [][]string{
		{"1000", "0", "-1", "1.5", `"1000"`, "1000000000000001", ""},
		{`{}`, `{"type":"object","required":["text"]}`, `{"$ref":"#/nope"}`, `[`},
		{`{"text":"t"}`, `{}`, `null`, `"x"`},
		{"1000000", "0", "999", "1000000000000000", ""},
		{`{"bullets":["a"]}`, `{"bullets":[1]}`, `{}`},
		{"bad", "", "\x00"},
		{"split", "claimant", "respondent", "", "Split"},
		{"5", "1", "0", "6", "2.5", `"5"`},
		{"pick me", "", "\xff"},
		{"$VICTIM", "$SVC", "nope", ""},
		{},
		{"Fuzzed idea two", "abc", strings.Repeat("t", 201)},
		{},
		{},
		{"https://hooks.example/x", "http://127.0.0.1:1/", "javascript:alert(1)", ""},
		{},
	}
	for i := range endpoints {
		for j, body := range templated[i] {
			f.Add(byte(i)|0x40|byte(j%2)<<7, []byte(body))
		}
		for j, body := range seeds[i] {
			f.Add(byte(i)|byte(j%4)<<4, []byte(body))
			f.Add(byte(i)|0x80, []byte(body))
		}
	}

	a := newAPI(f, sqlstoretest.Backend{Name: "sqlite"}, httpapi.RateLimits{})
	main, _ := a.activated(f, "fuzz-main", 100*usdc)
	other, otherWallet := a.activated(f, "fuzz-other", 100*usdc)
	victim, _ := a.activated(f, "fuzz-victim", 2*usdc)
	fresh := a.register(f, "fuzz-fresh")
	hired := a.createService(f, main, map[string]any{"maxConcurrentJobs": 100}) // the fixtures hire this one
	spare := a.createService(f, main, map[string]any{"name": "Spare service"})
	otherSvc := a.createService(f, other, map[string]any{"maxConcurrentJobs": 100})

	var fx marketFixtures
	refresh := func(tb testing.TB) {
		tb.Helper()
		a.must(tb, http.StatusOK, "POST", "/dev/clock/advance", "", map[string]any{"seconds": 400})
		if fx.dispute != "" {
			a.do(tb, "POST", resolvePath(fx.dispute), adminToken, map[string]any{"outcome": "split"}) // 409 if the fuzzer ruled first
		}
		for _, ag := range []agent{main, other} {
			if a.available(tb, ag) < 20*usdc {
				a.deposit(tb, ag, otherWallet, 100*usdc)
			}
		}
		hire := func() string { return str(a.createJob(tb, other, directJob(hired))["id"]) }
		fx.accepted = hire()
		fx.delivered = hire()
		a.must(tb, http.StatusOK, "POST", jobPath(fx.delivered, "deliver"), main.Key, summaryOutput)
		fx.completed = hire()
		a.must(tb, http.StatusOK, "POST", jobPath(fx.completed, "deliver"), main.Key, summaryOutput)
		a.must(tb, http.StatusOK, "POST", jobPath(fx.completed, "accept-delivery"), other.Key, nil)
		disputed := hire()
		a.must(tb, http.StatusOK, "POST", jobPath(disputed, "deliver"), main.Key, summaryOutput)
		fx.dispute = a.fileDispute(tb, main, disputed)
		fx.open = str(a.createJob(tb, other, open)["id"])
		if status, got, _ := a.do(tb, "POST", "/api/v1/reports", other.Key,
			map[string]any{"targetType": "agent", "targetId": main.ID, "reason": "spam"}); status == http.StatusCreated {
			fx.report = str(got["id"])
		}
		if status, got, _ := a.do(tb, "POST", "/api/v1/proposals", other.Key,
			map[string]any{"title": "Idea " + fx.open, "description": "Something worth voting for", "category": "feature"}); status == http.StatusCreated {
			fx.proposal = str(got["id"])
		}
	}
	refresh(f)
	f.Cleanup(func() { sqlstoretest.MustVerify(f, a.DB) })

	const verifyEvery, refreshEvery = 50, 10
	inputs := 0
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		inputs++
		vars := strings.NewReplacer("$ACCEPTED", fx.accepted, "$DELIVERED", fx.delivered, "$COMPLETED", fx.completed,
			"$DISPUTE", fx.dispute, "$OPEN", fx.open, "$REPORT", fx.report, "$PROPOSAL", fx.proposal, "$SVC", spare, "$OTHERSVC", otherSvc,
			"$VICTIM", victim.ID)
		ep := endpoints[int(sel&0x0f)%len(endpoints)]
		rq := request{Method: ep.method, Path: vars.Replace(ep.path), Header: http.Header{}}
		switch {
		case ep.pathArg:
			rq.Path += url.PathEscape(string(body))
		case sel&0x40 != 0:
			rq.Body = vars.Replace(ep.template(body))
		case len(body) > 0:
			rq.Body = vars.Replace(string(body))
		}
		switch (sel >> 4) & 3 {
		case 0:
			rq.Key = main.Key
			if strings.HasPrefix(rq.Path, "/api/v1/admin/") {
				rq.Key = adminToken
			}
		case 1:
			rq.Key = main.Key
			if !strings.HasPrefix(rq.Path, "/api/v1/admin/") {
				rq.Key = adminToken // the admin token on an agent route
			}
		case 2:
			rq.Key = fresh.Key
		}
		if sel&0x80 != 0 {
			sum := sha256.Sum256(append([]byte{sel}, body...))
			rq.Header.Set("Idempotency-Key", "fz-"+hex.EncodeToString(sum[:8]))
		}
		r := a.send(t, rq)
		if r.Status >= 500 || r.Status < 200 {
			t.Fatalf("%s %s %q: status %d %s", rq.Method, rq.Path, body, r.Status, r.Raw)
		}
		if inputs%verifyEvery == 0 {
			sqlstoretest.MustVerify(t, a.DB)
		}
		if inputs%refreshEvery == 0 {
			refresh(t)
		}
	})
}
