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

// fuzzEndpoint is one write endpoint FuzzWriteEndpoints can call. A pathArg endpoint takes the
// fuzzed body, escaped, as its last path segment instead of as its body. template, when set, makes
// a well-formed body around the fuzzed bytes, so that the fuzzer reaches the money paths instead
// of the JSON decoder only.
type fuzzEndpoint struct {
	method, path string
	pathArg      bool
	template     func(b []byte) string
}

// jsonString encodes b as a JSON string.
func jsonString(b []byte) string {
	s, _ := json.Marshal(string(b))
	return string(s)
}

// jsonRaw uses b as a raw JSON value, null when empty.
func jsonRaw(b []byte) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

// FuzzWriteEndpoints sends fuzzed bodies to every write endpoint of the real server over a real
// SQLite store, as an activated agent with a withdrawal address, a fresh agent, or no one. Whatever
// the input, the server never answers 5xx or panics, every error is {"error": "<message>"}, and
// the ledger invariant holds throughout.
//
// The selector byte picks: bits 0-3 the endpoint, bits 4-5 the caller (main, main, fresh, none),
// bit 6 the endpoint's template (a well-formed body around the fuzzed bytes) instead of the raw
// bytes, bit 7 an Idempotency-Key made from the input, so that a repeated input is replayed.
// In the body, $DEPOSIT, $FRESH, $WALLET, $ADDRESS and $EMERGENCY stand for real addresses; in
// the campaign endpoints' paths, $MINE is a campaign of the main agent, $THEIRS one of another
// agent, $TASK the main agent's task on $THEIRS and $THEIRTASK the other agent's delivered task
// on $MINE.
//
// The database is opened once per fuzzing process, not per input: inputs change its state, which
// is the point (panic empties the wallet, clock advances end cooldowns and send withdrawals); every
// few inputs the main agent is refilled and its cooldown waited out so that withdrawals keep
// succeeding.
func FuzzWriteEndpoints(f *testing.F) {
	none := func([]byte) string { return "" }
	endpoints := []fuzzEndpoint{
		{method: "POST", path: "/api/v1/auth/register", template: func(b []byte) string {
			sum := sha256.Sum256(b)
			return `{"name":"fz-` + hex.EncodeToString(sum[:6]) + `","description":` + jsonString(b) + `,"capabilities":[` + jsonString(b) + `]}`
		}},
		{method: "POST", path: "/api/v1/auth/keys", template: func(b []byte) string { return `{"name":` + jsonString(b) + `}` }},
		{method: "PATCH", path: "/api/v1/agents/me", template: func(b []byte) string {
			return `{"description":` + jsonString(b) + `,"capabilities":[` + jsonString(b) + `]}`
		}},
		{method: "PUT", path: "/api/v1/wallet/withdrawal-address", template: func(b []byte) string { return `{"address":` + jsonString(b) + `}` }},
		{method: "POST", path: "/api/v1/wallet/withdraw", template: func(b []byte) string { return `{"amount":` + jsonRaw(b) + `}` }},
		{method: "POST", path: "/api/v1/wallet/panic", template: none},
		{method: "POST", path: "/api/v1/wallet/confirm-deposit", template: none},
		{method: "POST", path: "/dev/chain/transfer", template: func(b []byte) string {
			return `{"from":"$WALLET","to":"$DEPOSIT","amount":` + jsonRaw(b) + `}`
		}},
		{method: "POST", path: "/dev/clock/advance", template: func(b []byte) string { return `{"seconds":` + jsonRaw(b) + `}` }},
		{method: "DELETE", path: "/api/v1/auth/keys/", pathArg: true},
		{method: "POST", path: "/api/v1/campaigns", template: func(b []byte) string {
			return `{"title":"Fuzzed pool","description":` + jsonString(b) + `,"category":"fuzz","rewardPerTask":` + jsonRaw(b) +
				`,"totalBudget":` + jsonRaw(b) + `}`
		}},
		{method: "POST", path: "/api/v1/campaigns/$THEIRS/claim", template: none},
		{method: "POST", path: "/api/v1/campaigns/$THEIRS/tasks/$TASK/deliver", template: func(b []byte) string { return `{"output":` + jsonRaw(b) + `}` }},
		{method: "POST", path: "/api/v1/campaigns/$MINE/top-up", template: func(b []byte) string { return `{"amount":` + jsonRaw(b) + `}` }},
		{method: "POST", path: "/api/v1/campaigns/$MINE/tasks/$THEIRTASK/reject", template: func(b []byte) string { return `{"reason":` + jsonString(b) + `}` }},
		{method: "POST", path: "/api/v1/campaigns/$MINE/", pathArg: true},
	}
	seeds := [][]string{
		{ // register
			`{"name":"fuzz-agent","description":"d","capabilities":["a","b"],"callbackUrl":"https://x.example/h","email":"a@b.co","password":"password1"}`,
			`{"name":"x"}`, `{"name":"ok_name","capabilities":"a"}`, `{"name":"ok-name","extra":1}`, `{"name":null}`,
			`{"name":"nul","description":"\u0000"}`, `[]`, ``, `{"name":"dup"}{"name":"dup"}`,
		},
		{`{"name":"k"}`, ``, `{}`, `{"name":5}`, `{"name":"` + strings.Repeat("k", 101) + `"}`, `{"name":"a\u0000"}`},
		{
			`{"description":"new","avatarUrl":"https://a.example/a.png","websiteUrl":"https://w.example","capabilities":["x"],"callbackUrl":"http://c.example"}`,
			`{"description":null,"capabilities":null}`, `{}`, `{"avatarUrl":"javascript:x"}`, `{"capabilities":["` + strings.Repeat(`a","`, 20) + `a"]}`,
			`{"name":"renamed"}`, `{"description":5}`, `{"capabilities":[null]}`,
		},
		{`{"address":"$ADDRESS"}`, `{"address":"$WALLET"}`, `{"address":"$DEPOSIT"}`, `{"address":"$FRESH"}`, `{"address":""}`, `{}`, `{"address":"0x00"}`, `{"address":1}`},
		{
			`{"amount":5000000}`, `{"amount":100000000}`, `{"amount":4999999}`, `{"amount":5000000.5}`, `{"amount":-5000000}`,
			`{"amount":"5000000"}`, `{"amount":9223372036854775807}`, `{"amount":9223372036854775808}`, `{"amount":1e7}`, `{}`, `{"amount":null}`,
			`{"amount":5000000,"address":"$WALLET"}`,
		},
		{``, `{}`, `{"all":true}`, `null`},
		{``, `{}`, `x`, `{"signature":"s"}`},
		{
			`{"from":"$WALLET","to":"$DEPOSIT","amount":25000000}`, `{"from":"$WALLET","to":"$FRESH","amount":500000}`,
			`{"from":"$EMERGENCY","to":"$DEPOSIT","amount":1}`, `{"from":"$DEPOSIT","to":"$FRESH","amount":2000000}`,
			`{"from":"$WALLET","to":"$WALLET","amount":1}`, `{"from":"x","to":"$DEPOSIT","amount":1}`,
			`{"from":"$WALLET","to":"$DEPOSIT","amount":1000000000000000}`, `{"from":"$WALLET","to":"$DEPOSIT","amount":1000000000000001}`,
			`{"from":"$WALLET","to":"$DEPOSIT","amount":0}`, `{"from":"$WALLET","to":"$DEPOSIT"}`,
		},
		{`{"seconds":1}`, `{"seconds":86400}`, `{"seconds":31622400}`, `{"seconds":31622401}`, `{"seconds":0}`, `{"seconds":-1}`, `{"seconds":1.5}`, `{"seconds":"1"}`, `{}`},
		{`nope`, ``, "\x00", "\xff\xfe", `c00000000000000000000000`, `../keys`, strings.Repeat("k", 300)},
		{ // create a campaign
			`{"title":"Fuzz pool","description":"Claim a task and say hi","category":"fuzz","rewardPerTask":1000,"totalBudget":5000,"maxPerAgent":5}`,
			`{"title":"Fuzz pool","description":"Claim a task and say hi","category":"fuzz","rewardPerTask":1000,"totalBudget":999999999}`,
			`{"title":"Fuzz pool","description":"Claim a task and say hi","category":"fuzz","rewardPerTask":1000,"totalBudget":1000000000000001}`,
			`{"title":"Fuzz pool","description":"Claim a task and say hi","category":"fuzz","rewardPerTask":999,"totalBudget":5000}`,
			`{"title":"Fuzz pool","description":"Claim a task and say hi","category":"fuzz","rewardPerTask":1000.5,"totalBudget":5000}`,
			`{"title":"Fuzz pool","description":"Claim a task and say hi","category":"fuzz","rewardPerTask":1000,"totalBudget":5000,"dailyLimitPerAgent":null,"taskDescription":{"a":[1,null]}}`,
			`{"title":"x"}`, `{}`, `[]`, ``, `{"title":"Fuzz pool","status":"active"}`,
		},
		{``, `{}`, `{"campaignId":"$THEIRS"}`, `null`},
		{`{"output":{"tweet_url":"https://x.example/1"}}`, `{"output":null}`, `{}`, `{"output":"a\u0000b"}`, `{"output":1,"status":"accepted"}`},
		{`{"amount":1000}`, `{"amount":0}`, `{"amount":-1}`, `{"amount":1.5}`, `{"amount":"1000"}`, `{"amount":1000000000000000}`, `{"amount":9223372036854775807}`, `{}`},
		{`{"reason":"wrong hashtag"}`, `{"reason":""}`, `{}`, `{"reason":5}`, `{"reason":"` + strings.Repeat("r", 1001) + `"}`},
		{`pause`, `resume`, `claim`, `top-up`, `tasks`, `nope`, ``, "\x00", `cancel`},
	}
	// Seeds for the templates (selector bit 6), by endpoint.
	templated := [][]string{
		{"a description", "\x00", "\xff"},
		{"key", strings.Repeat("k", 101)},
		{"text", ""},
		{"$ADDRESS", "$WALLET", "$DEPOSIT", "$FRESH", "not an address"},
		{"5000000", "100000000", "4999999", "9223372036854775807", "9223372036854775808", "-5000000", "5e6", "5000000.0", `"5000000"`, ""},
		{""},
		{""},
		{"25000000", "500000", "1000000000000000", "1000000000000001", "0", "-1"},
		{"1", "60", "86400", "31622400", "31622401", "0", "1.5"},
		{},
		{"1000", "5000", "999", "1000000000000001", "-1", "1e3", ""},
		{""},
		{`{"tweet_url":"https://x.example/2"}`, `"done"`, `null`, ``, `[`},
		{"1000", "0", "1000000000000000", "1000000000000001", "-1", "1.5", ""},
		{"wrong hashtag", "", "\x00", strings.Repeat("r", 1001)},
		{},
	}
	// Money first: the address changes come last so that they do not block the seeded withdrawals.
	for _, i := range []int{4, 6, 7, 5, 8, 0, 1, 2, 10, 11, 12, 13, 14, 9, 3, 15} {
		for j, body := range templated[i] {
			f.Add(byte(i)|0x40|byte(j%2)<<7, []byte(body))
		}
		for j, body := range seeds[i] {
			caller := byte(j%4) << 4 // vary the caller across seeds
			f.Add(byte(i)|caller, []byte(body))
			f.Add(byte(i)|0x80, []byte(body))
		}
	}

	a := newAPI(f, sqlstoretest.Backend{Name: "sqlite"}, httpapi.RateLimits{})
	main, emergency, address := a.withAddress(f, "fuzz-main", 100*usdc)
	fresh := a.register(f, "fuzz-fresh")
	wallet := sqlstoretest.NewWallet(f)
	other, _ := a.activated(f, "fuzz-other", 100*usdc)
	campaign := map[string]any{"title": "Fuzz pool", "description": "Claim a task and say hi", "category": "fuzz", "rewardPerTask": 1000,
		"totalBudget": 1_000_000, "maxPerAgent": 1_000_000, "maxConcurrentClaims": 1000, "autoAccept": false, "maxExecutionTimeSecs": 86400}
	mine := str(a.must(f, http.StatusCreated, "POST", "/api/v1/campaigns", main.Key, campaign)["id"])
	theirs := str(a.must(f, http.StatusCreated, "POST", "/api/v1/campaigns", other.Key, campaign)["id"])
	task := str(a.must(f, http.StatusCreated, "POST", "/api/v1/campaigns/"+theirs+"/claim", main.Key, nil)["id"])
	theirTask := str(a.must(f, http.StatusCreated, "POST", "/api/v1/campaigns/"+mine+"/claim", other.Key, nil)["id"])
	a.must(f, http.StatusOK, "POST", "/api/v1/campaigns/"+mine+"/tasks/"+theirTask+"/deliver", other.Key, map[string]any{"output": "hi"})
	vars := strings.NewReplacer("$DEPOSIT", main.Deposit, "$FRESH", fresh.Deposit, "$WALLET", wallet,
		"$ADDRESS", address, "$EMERGENCY", emergency, "$MINE", mine, "$THEIRS", theirs, "$THEIRTASK", theirTask, "$TASK", task)
	f.Cleanup(func() { sqlstoretest.MustVerify(f, a.DB) })

	const verifyEvery, maintainEvery = 50, 20
	inputs := 0
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		inputs++
		ep := endpoints[int(sel&0x0f)%len(endpoints)]
		rq := request{Method: ep.method, Path: vars.Replace(ep.path), Header: http.Header{}}
		switch {
		case ep.pathArg:
			rq.Path += url.PathEscape(string(body))
		case sel&0x40 != 0:
			if b := ep.template(body); b != "" {
				rq.Body = vars.Replace(b)
			}
		case len(body) > 0:
			rq.Body = vars.Replace(string(body))
		}
		switch (sel >> 4) & 3 {
		case 0, 1:
			rq.Key = main.Key
		case 2:
			rq.Key = fresh.Key
		}
		if sel&0x80 != 0 {
			sum := sha256.Sum256(append([]byte{sel}, body...))
			rq.Header.Set("Idempotency-Key", "fz-"+hex.EncodeToString(sum[:8]))
		}
		r := a.send(t, rq)
		if r.Status >= 500 || (r.Status < 200) {
			t.Fatalf("%s %s %q: status %d %s", rq.Method, rq.Path, body, r.Status, r.Raw)
		}

		if inputs%verifyEvery == 0 {
			sqlstoretest.MustVerify(t, a.DB)
		}
		if inputs%maintainEvery == 0 {
			// Keep withdrawals possible: refill the main agent and wait out its cooldown.
			if bal := a.balance(t, main); len(str(bal["available"])) < 8 { // below 10 USDC
				a.deposit(t, main, wallet, 100*usdc)
			}
			if me := a.must(t, http.StatusOK, "GET", "/api/v1/agents/me", main.Key, nil); me["withdrawalCooldownUntil"] != nil {
				a.must(t, http.StatusOK, "POST", "/dev/clock/advance", "", map[string]any{"seconds": 86400})
			}
		}
	})
}
