package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay/devchain"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of every route of routes.go, through the real server, a real store and real
// HTTP, on SQLite and (with JUSTPAY_TEST_POSTGRES) PostgreSQL.

const (
	usdc = 1_000_000

	// panicMessage is the spec's answer to POST /wallet/panic, word for word.
	panicMessage = "Your funds have been sent to your original deposit wallet. If you have been compromised, stop using this agent and register a new one. If this was you, simply fund your wallet again — no activation fee will be charged."
	noDeposits   = "No new deposits found. Make sure your USDC transfer is confirmed on-chain before retrying."
)

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// wantError checks that the error message contains every fragment, case-insensitively.
func wantError(fragments ...string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		msg := strings.ToLower(str(r.JSON["error"]))
		for _, f := range fragments {
			if !strings.Contains(msg, strings.ToLower(f)) {
				t.Errorf("error %q does not mention %q", r.JSON["error"], f)
			}
		}
	}
}

func TestStatusRegister(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		a.register(t, "taken-name")
		const path = "/api/v1/auth/register"
		reg := func(name, body string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, body: body, want: want, check: check}
		}
		caps21 := `["` + strings.Repeat(`c","`, 20) + `c"]`
		statuses := a.table(t, nil, []statusCase{
			reg("OK", `{"name":"my-agent","description":"I generate images","capabilities":["image-generation"],"callbackUrl":"https://myagent.example.com/webhook"}`,
				http.StatusCreated, func(t *testing.T, r response) {
					wantFields(t, r.JSON, map[string]any{
						"name": "my-agent", "activated": false, "activationFee": "1.00 USDC",
						"activation": map[string]any{"status": "pending", "fee": "1.00 USDC",
							"instructions": "Send at least 1 USDC to your wallet address to activate"},
					})
					if k := str(r.JSON["apiKey"]); !strings.HasPrefix(k, "jp_") {
						t.Errorf("apiKey = %q, want jp_...", k)
					}
					if str(r.JSON["agentId"]) == "" || str(r.JSON["walletAddress"]) == "" {
						t.Errorf("agentId and walletAddress must be set: %v", r.JSON)
					}
				}),
			reg("OKAllFields", `{"name":"All_Fields-2","description":"d","capabilities":[],"callbackUrl":"http://x.example","email":"a@b.co","password":"12345678"}`,
				http.StatusCreated, nil),
			reg("OKNameMinLength", `{"name":"ab"}`, http.StatusCreated, nil),
			reg("OKNameMaxLength", `{"name":"`+strings.Repeat("n", 50)+`"}`, http.StatusCreated, nil),
			reg("ErrInvalidNameMissing", `{}`, http.StatusBadRequest, wantError("name")),
			reg("ErrInvalidNameTooShort", `{"name":"a"}`, http.StatusBadRequest, wantError("name")),
			reg("ErrInvalidNameTooLong", `{"name":"`+strings.Repeat("n", 51)+`"}`, http.StatusBadRequest, wantError("name")),
			reg("ErrInvalidNameSpace", `{"name":"bad name"}`, http.StatusBadRequest, wantError("name")),
			reg("ErrInvalidNameUnicode", `{"name":"agént"}`, http.StatusBadRequest, wantError("name")),
			reg("ErrInvalidDescriptionTooLong", `{"name":"desc-long","description":"`+strings.Repeat("d", 501)+`"}`, http.StatusBadRequest, wantError("description")),
			reg("ErrInvalidTooManyCapabilities", `{"name":"caps-many","capabilities":`+caps21+`}`, http.StatusBadRequest, wantError("capabilities")),
			reg("ErrInvalidEmptyCapability", `{"name":"caps-empty","capabilities":[""]}`, http.StatusBadRequest, wantError("capability")),
			reg("ErrInvalidNullCapability", `{"name":"caps-null","capabilities":[null]}`, http.StatusBadRequest, nil),
			reg("ErrInvalidCallbackURLScheme", `{"name":"cb-ftp","callbackUrl":"ftp://x.example"}`, http.StatusBadRequest, wantError("callbackUrl")),
			reg("ErrInvalidCallbackURLRelative", `{"name":"cb-rel","callbackUrl":"/webhook"}`, http.StatusBadRequest, wantError("callbackUrl")),
			reg("ErrInvalidCallbackURLUserinfo", `{"name":"cb-user","callbackUrl":"https://u:p@x.example"}`, http.StatusBadRequest, wantError("callbackUrl")),
			reg("ErrInvalidEmail", `{"name":"bad-email","email":"nope"}`, http.StatusBadRequest, wantError("email")),
			reg("ErrInvalidPasswordTooShort", `{"name":"short-pw","password":"1234567"}`, http.StatusBadRequest, wantError("password")),
			reg("ErrInvalidUnknownField", `{"name":"unknown-f","role":"admin"}`, http.StatusBadRequest, wantError("unknown field")),
			reg("ErrInvalidWrongTypeName", `{"name":5}`, http.StatusBadRequest, wantError("name")),
			reg("ErrInvalidWrongTypeCapabilities", `{"name":"caps-str","capabilities":"a"}`, http.StatusBadRequest, wantError("capabilities")),
			reg("ErrInvalidWrongTypeCapabilityItem", `{"name":"caps-int","capabilities":[1]}`, http.StatusBadRequest, nil),
			reg("ErrInvalidSyntax", `{"name":`, http.StatusBadRequest, nil),
			reg("ErrInvalidEmptyBody", ``, http.StatusBadRequest, nil),
			reg("ErrInvalidNull", `null`, http.StatusBadRequest, nil),
			reg("ErrInvalidArray", `[{"name":"arr-agent"}]`, http.StatusBadRequest, nil),
			reg("ErrInvalidTrailingData", `{"name":"trail-a"}{"name":"trail-b"}`, http.StatusBadRequest, nil),
			reg("ErrConflictDuplicateName", `{"name":"taken-name"}`, http.StatusConflict, wantError("taken-name")),
			reg("ErrConflictDuplicateNameOtherCase", `{"name":"TAKEN-Name"}`, http.StatusConflict, nil),
			reg("ErrTooLarge", `{"name":"big-agent","description":"`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`, http.StatusRequestEntityTooLarge, nil),
			{name: "ErrUnsupportedMediaType", method: "POST", path: path, body: `{"name":"text-plain"}`,
				header: hdr("Content-Type", "text/plain"), want: http.StatusUnsupportedMediaType},
			// PostgreSQL cannot store NUL in TEXT or \u0000 in JSONB: such text is refused on both
			// backends alike, never a 500.
			reg("ErrInvalidNULInDescription", `{"name":"nul-desc","description":"a\u0000b"}`, http.StatusBadRequest, nil),
			reg("ErrInvalidNULInCapability", `{"name":"nul-cap","capabilities":["a\u0000b"]}`, http.StatusBadRequest, nil),
			reg("ErrInvalidNULInEmail", `{"name":"nul-email","email":"a\u0000@b.co"}`, http.StatusBadRequest, nil),
		})
		// Exactly the agents answered 201 exist, besides taken-name: no rejected request left one.
		created := 1
		for _, status := range statuses {
			if status == http.StatusCreated {
				created++
			}
		}
		st := a.must(t, http.StatusOK, "GET", "/api/v1/stats", "", nil)
		if got := st["agents"].(map[string]any)["total"]; got != float64(created) {
			t.Errorf("agents.total = %v, want %d", got, created)
		}
	})
}

func TestStatusAPIKeys(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		owner := a.register(t, "keys-owner")
		other := a.register(t, "keys-other")
		second := a.must(t, http.StatusCreated, "POST", "/api/v1/auth/keys", owner.Key, map[string]any{"name": "second"})
		secondKey, secondID := str(second["apiKey"]), str(second["keyId"])
		otherKeys := a.must(t, http.StatusOK, "GET", "/api/v1/auth/keys", other.Key, nil)["keys"].([]any)
		otherID := str(otherKeys[0].(map[string]any)["keyId"])

		// self revokes the very key it calls with, which is allowed while another one is active.
		self := a.register(t, "keys-self")
		selfSecond := str(a.must(t, http.StatusCreated, "POST", "/api/v1/auth/keys", self.Key, nil)["apiKey"])
		selfKeys := a.must(t, http.StatusOK, "GET", "/api/v1/auth/keys", self.Key, nil)["keys"].([]any)
		var selfFirstID string
		for _, k := range selfKeys {
			if m := k.(map[string]any); m["name"] == "default" {
				selfFirstID = str(m["keyId"])
			}
		}

		const keys = "/api/v1/auth/keys"
		a.table(t, nil, []statusCase{
			{name: "CreateOK", method: "POST", path: keys, key: owner.Key, body: `{"name":"production-key"}`, want: http.StatusCreated,
				check: func(t *testing.T, r response) {
					k := str(r.JSON["apiKey"])
					if !strings.HasPrefix(k, "jp_") || str(r.JSON["keyPrefix"]) != k[:6] || str(r.JSON["keyId"]) == "" {
						t.Errorf("apiKey/keyPrefix/keyId = %v", r.JSON)
					}
					wantFields(t, r.JSON, map[string]any{"name": "production-key"})
				}},
			{name: "CreateOKNoBody", method: "POST", path: keys, key: owner.Key, want: http.StatusCreated},
			{name: "CreateOKEmptyObject", method: "POST", path: keys, key: owner.Key, body: `{}`, want: http.StatusCreated},
			{name: "CreateErrUnauthorized", method: "POST", path: keys, body: `{"name":"x"}`, want: http.StatusUnauthorized},
			{name: "CreateErrUnauthorizedUnknownKey", method: "POST", path: keys, key: "jp_doesnotexist", want: http.StatusUnauthorized},
			{name: "CreateErrUnauthorizedNotAKey", method: "POST", path: keys, key: "hello", want: http.StatusUnauthorized},
			{name: "CreateErrUnauthorizedBasicScheme", method: "POST", path: keys, header: hdr("Authorization", "Basic "+owner.Key), want: http.StatusUnauthorized},
			{name: "CreateErrInvalidNameTooLong", method: "POST", path: keys, key: owner.Key, body: `{"name":"` + strings.Repeat("k", 101) + `"}`, want: http.StatusBadRequest, check: wantError("name")},
			{name: "CreateErrInvalidUnknownField", method: "POST", path: keys, key: owner.Key, body: `{"name":"k","scope":"admin"}`, want: http.StatusBadRequest, check: wantError("unknown field")},
			{name: "CreateErrInvalidWrongType", method: "POST", path: keys, key: owner.Key, body: `{"name":7}`, want: http.StatusBadRequest, check: wantError("name")},
			{name: "CreateErrInvalidSyntax", method: "POST", path: keys, key: owner.Key, body: `{"name"`, want: http.StatusBadRequest},
			{name: "CreateErrInvalidNULInName", method: "POST", path: keys, key: owner.Key, body: `{"name":"a\u0000b"}`, want: http.StatusBadRequest},
			{name: "ListOK", method: "GET", path: keys, key: owner.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				list, _ := r.JSON["keys"].([]any)
				if len(list) < 5 {
					t.Fatalf("keys = %v, want the default, second and the 3 created", r.JSON)
				}
				for _, k := range list {
					m := k.(map[string]any)
					if _, ok := m["apiKey"]; ok {
						t.Errorf("a listed key shows its secret: %v", m)
					}
					if m["active"] != true || str(m["keyId"]) == "" || !strings.HasPrefix(str(m["keyPrefix"]), "jp_") {
						t.Errorf("key = %v", m)
					}
				}
			}},
			{name: "ListErrUnauthorized", method: "GET", path: keys, want: http.StatusUnauthorized},
			{name: "RevokeErrUnauthorized", method: "DELETE", path: keys + "/" + secondID, want: http.StatusUnauthorized},
			{name: "RevokeErrNotFoundOtherAgentsKey", method: "DELETE", path: keys + "/" + otherID, key: owner.Key, want: http.StatusNotFound},
			{name: "OtherAgentsKeyStillWorks", method: "GET", path: "/api/v1/auth/verify", key: other.Key, want: http.StatusOK},
			{name: "RevokeErrNotFoundUnknown", method: "DELETE", path: keys + "/nope", key: owner.Key, want: http.StatusNotFound},
			{name: "RevokeErrNotFoundNUL", method: "DELETE", path: keys + "/%00", key: owner.Key, want: http.StatusNotFound},
			{name: "RevokeErrNotFoundInvalidUTF8", method: "DELETE", path: keys + "/%FF", key: owner.Key, want: http.StatusNotFound},
			{name: "RevokeOK", method: "DELETE", path: keys + "/" + secondID, key: owner.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"keyId": secondID})
			}},
			{name: "RevokedKeyErrUnauthorized", method: "GET", path: "/api/v1/auth/verify", key: secondKey, want: http.StatusUnauthorized},
			{name: "RevokedKeyErrUnauthorizedOnMoneyRoute", method: "POST", path: "/api/v1/wallet/panic", key: secondKey, want: http.StatusUnauthorized},
			{name: "ListShowsRevoked", method: "GET", path: keys, key: owner.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				for _, k := range r.JSON["keys"].([]any) {
					if m := k.(map[string]any); m["keyId"] == secondID && (m["active"] != false || m["revokedAt"] == nil) {
						t.Errorf("revoked key listed as %v", m)
					}
				}
			}},
			{name: "RevokeErrConflictAlreadyRevoked", method: "DELETE", path: keys + "/" + secondID, key: owner.Key, want: http.StatusConflict},
			{name: "RevokeErrConflictLastKey", method: "DELETE", path: keys + "/" + otherID, key: other.Key, want: http.StatusConflict, check: wantError("last")},
			{name: "LastKeyStillWorks", method: "GET", path: "/api/v1/auth/verify", key: other.Key, want: http.StatusOK},
			{name: "RevokeOKKeyInUse", method: "DELETE", path: keys + "/" + selfFirstID, key: self.Key, want: http.StatusOK},
			{name: "KeyInUseRevokedErrUnauthorized", method: "GET", path: keys, key: self.Key, want: http.StatusUnauthorized},
			{name: "OtherKeyOfSelfWorks", method: "GET", path: "/api/v1/auth/verify", key: selfSecond, want: http.StatusOK},
		})
	})
}

func TestStatusVerify(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "verify-me")
		const path = "/api/v1/auth/verify"
		a.table(t, nil, []statusCase{
			{name: "OK", method: "GET", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"valid": true, "agentId": ag.ID, "name": "verify-me"})
			}},
			{name: "OKLowercaseBearer", method: "GET", path: path, header: hdr("Authorization", "bearer "+ag.Key), want: http.StatusOK},
			{name: "ErrUnauthorized", method: "GET", path: path, want: http.StatusUnauthorized},
			{name: "ErrUnauthorizedEmptyBearer", method: "GET", path: path, header: hdr("Authorization", "Bearer "), want: http.StatusUnauthorized},
			{name: "ErrUnauthorizedUnknownKey", method: "GET", path: path, key: ag.Key + "x", want: http.StatusUnauthorized},
			{name: "ErrUnauthorizedAdminToken", method: "GET", path: path, key: adminToken, want: http.StatusUnauthorized},
			{name: "ErrUnauthorizedHugeKey", method: "GET", path: path, key: "jp_" + strings.Repeat("k", 10000), want: http.StatusUnauthorized},
		})
	})
}

func TestStatusAgentsMe(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "me-agent")
		const path = "/api/v1/agents/me"
		caps21 := make([]string, 21)
		for i := range caps21 {
			caps21[i] = "cap" + strconv.Itoa(i)
		}
		a.table(t, nil, []statusCase{
			{name: "GetOK", method: "GET", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{
					"id": ag.ID, "name": "me-agent", "walletAddress": ag.Deposit, "activated": false,
					"capabilities": []any{}, "withdrawalAddress": nil, "emergencyAddress": nil,
					"wallet": map[string]any{"available": "0", "pending": "0", "escrowed": "0", "total": "0"},
				})
			}},
			{name: "GetErrUnauthorized", method: "GET", path: path, want: http.StatusUnauthorized},
			{name: "PatchOK", method: "PATCH", path: path, key: ag.Key, want: http.StatusOK,
				body: `{"description":"Updated description","avatarUrl":"https://example.com/avatar.png","websiteUrl":"https://myagent.dev","capabilities":["image-gen","video-gen"],"callbackUrl":"https://myagent.dev/webhook"}`,
				check: func(t *testing.T, r response) {
					wantFields(t, r.JSON, map[string]any{
						"id": ag.ID, "description": "Updated description", "avatarUrl": "https://example.com/avatar.png",
						"websiteUrl": "https://myagent.dev", "capabilities": []any{"image-gen", "video-gen"},
						"callbackUrl": "https://myagent.dev/webhook",
					})
				}},
			{name: "PatchOKEmptyObject", method: "PATCH", path: path, key: ag.Key, body: `{}`, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"description": "Updated description"})
			}},
			{name: "PatchOKNullClears", method: "PATCH", path: path, key: ag.Key, body: `{"description":null,"capabilities":null,"avatarUrl":null}`, want: http.StatusOK,
				check: func(t *testing.T, r response) {
					wantFields(t, r.JSON, map[string]any{"description": nil, "capabilities": []any{}, "avatarUrl": nil, "websiteUrl": "https://myagent.dev"})
				}},
			{name: "PatchOKTwentyCapabilities", method: "PATCH", path: path, key: ag.Key, body: map[string]any{"capabilities": caps21[:20]}, want: http.StatusOK},
			{name: "PatchErrInvalidTooManyCapabilities", method: "PATCH", path: path, key: ag.Key, body: map[string]any{"capabilities": caps21}, want: http.StatusBadRequest, check: wantError("capabilities")},
			{name: "PatchErrInvalidAvatarURL", method: "PATCH", path: path, key: ag.Key, body: `{"avatarUrl":"javascript:alert(1)"}`, want: http.StatusBadRequest, check: wantError("avatarUrl")},
			{name: "PatchErrInvalidWebsiteURL", method: "PATCH", path: path, key: ag.Key, body: `{"websiteUrl":"not a url"}`, want: http.StatusBadRequest, check: wantError("websiteUrl")},
			{name: "PatchErrInvalidCallbackURL", method: "PATCH", path: path, key: ag.Key, body: `{"callbackUrl":"ftp://x.example/hook"}`, want: http.StatusBadRequest, check: wantError("callbackUrl")},
			{name: "PatchErrInvalidDescriptionTooLong", method: "PATCH", path: path, key: ag.Key, body: `{"description":"` + strings.Repeat("d", 501) + `"}`, want: http.StatusBadRequest, check: wantError("description")},
			{name: "PatchErrInvalidUnknownFieldName", method: "PATCH", path: path, key: ag.Key, body: `{"name":"renamed"}`, want: http.StatusBadRequest, check: wantError("unknown field")},
			{name: "PatchErrInvalidUnknownFieldActivated", method: "PATCH", path: path, key: ag.Key, body: `{"activated":true}`, want: http.StatusBadRequest},
			{name: "PatchErrInvalidWrongTypeDescription", method: "PATCH", path: path, key: ag.Key, body: `{"description":5}`, want: http.StatusBadRequest},
			{name: "PatchErrInvalidWrongTypeCapabilities", method: "PATCH", path: path, key: ag.Key, body: `{"capabilities":"a,b"}`, want: http.StatusBadRequest},
			{name: "PatchErrInvalidEmptyBody", method: "PATCH", path: path, key: ag.Key, want: http.StatusBadRequest},
			{name: "PatchErrTooLarge", method: "PATCH", path: path, key: ag.Key, body: `{"description":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, want: http.StatusRequestEntityTooLarge},
			{name: "PatchErrUnauthorized", method: "PATCH", path: path, body: `{"description":"x"}`, want: http.StatusUnauthorized},
			{name: "RejectedPatchesChangedNothing", method: "GET", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				if caps, _ := r.JSON["capabilities"].([]any); len(caps) != 20 {
					t.Errorf("capabilities = %v, want the 20 of PatchOKTwentyCapabilities", r.JSON["capabilities"])
				}
				wantFields(t, r.JSON, map[string]any{"avatarUrl": nil, "websiteUrl": "https://myagent.dev", "callbackUrl": "https://myagent.dev/webhook"})
			}},
			// PostgreSQL cannot store NUL in TEXT or \u0000 in JSONB: such text is refused on both
			// backends alike, never a 500.
			{name: "PatchErrInvalidNULInDescription", method: "PATCH", path: path, key: ag.Key, body: `{"description":"a\u0000b"}`, want: http.StatusBadRequest},
			{name: "PatchErrInvalidNULInCapability", method: "PATCH", path: path, key: ag.Key, body: `{"capabilities":["\u0000"]}`, want: http.StatusBadRequest},
		})
	})
}

func TestStatusPublicProfile(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		const email = "secret-owner@example.com"
		got := a.must(t, http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{
			"name": "public-agent", "description": "visible", "email": email, "password": "password123",
			"callbackUrl": "https://hidden.example/hook",
		})
		ag := agent{ID: str(got["agentId"]), Key: str(got["apiKey"]), Deposit: str(got["walletAddress"])}
		wallet := sqlstoretest.NewWallet(t)
		a.deposit(t, ag, wallet, 3*usdc)
		withdrawal := sqlstoretest.NewWallet(t)
		a.must(t, http.StatusOK, "PUT", "/api/v1/wallet/withdrawal-address", ag.Key, map[string]any{"address": withdrawal})
		secrets := []string{email, wallet, withdrawal, ag.Deposit, ag.Key, "hidden.example", "2000000"}

		path := "/api/v1/agents/" + ag.ID
		noLeak := func(t *testing.T, r response) {
			want := []string{"activated", "avatarUrl", "averageRating", "capabilities", "clientDisputeRate", "clientRestricted", "completedJobs",
				"createdAt", "description", "id", "name", "pendingReportCount", "ratingCount", "totalDisputesFiled", "trustScore", "verified",
				"warning", "websiteUrl"}
			if got := sortedKeys(r.JSON); !slices.Equal(got, want) {
				t.Errorf("public profile fields = %v, want %v", got, want)
			}
			wantFields(t, r.JSON, map[string]any{"id": ag.ID, "name": "public-agent", "description": "visible", "activated": true,
				"completedJobs": 0.0, "averageRating": nil, "ratingCount": 0.0, "trustScore": 0.65, "totalDisputesFiled": 0.0,
				"clientDisputeRate": 0.0, "clientRestricted": false, "pendingReportCount": 0.0, "warning": nil})
			for _, s := range secrets {
				if bytes.Contains(r.Raw, []byte(s)) {
					t.Errorf("public profile leaks %q: %s", s, r.Raw)
				}
			}
		}
		a.table(t, nil, []statusCase{
			{name: "OK", method: "GET", path: path, want: http.StatusOK, check: noLeak},
			{name: "OKWithAnotherAgentsKey", method: "GET", path: path, key: a.register(t, "viewer").Key, want: http.StatusOK, check: noLeak},
			{name: "OKWithOwnKey", method: "GET", path: path, key: ag.Key, want: http.StatusOK, check: noLeak},
			{name: "OKWithBadKeyIgnored", method: "GET", path: path, key: "jp_bogus", want: http.StatusOK},
			{name: "ErrNotFound", method: "GET", path: "/api/v1/agents/doesnotexist", want: http.StatusNotFound},
			{name: "ErrNotFoundByName", method: "GET", path: "/api/v1/agents/public-agent", want: http.StatusNotFound},
			{name: "ErrNotFoundNUL", method: "GET", path: "/api/v1/agents/%00", want: http.StatusNotFound},
			{name: "ErrNotFoundInvalidUTF8", method: "GET", path: "/api/v1/agents/%FF%FE", want: http.StatusNotFound},
			{name: "ErrNotFoundLongID", method: "GET", path: "/api/v1/agents/" + strings.Repeat("i", 4000), want: http.StatusNotFound},
			{name: "ErrNotFoundEmptyID", method: "GET", path: "/api/v1/agents/", want: http.StatusNotFound},
		})
	})
}

func TestStatusRatings(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "rated-agent")
		path := "/api/v1/agents/" + ag.ID + "/ratings"
		pag := func(page, limit float64) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{
					"ratings": []any{}, "totalRatings": float64(0), "averageRating": nil,
					"pagination": map[string]any{"page": page, "limit": limit, "total": float64(0), "totalPages": float64(0)},
				})
			}
		}
		a.table(t, nil, []statusCase{
			{name: "OK", method: "GET", path: path, want: http.StatusOK, check: pag(1, 20)},
			{name: "OKPaged", method: "GET", path: path + "?page=3&limit=100", want: http.StatusOK, check: pag(3, 100)},
			{name: "OKLimitOne", method: "GET", path: path + "?limit=1", want: http.StatusOK, check: pag(1, 1)},
			{name: "ErrNotFound", method: "GET", path: "/api/v1/agents/nobody/ratings", want: http.StatusNotFound},
			{name: "ErrNotFoundNUL", method: "GET", path: "/api/v1/agents/%00/ratings", want: http.StatusNotFound},
			{name: "ErrInvalidLimitTooLarge", method: "GET", path: path + "?limit=101", want: http.StatusBadRequest, check: wantError("limit")},
			{name: "ErrInvalidLimitZero", method: "GET", path: path + "?limit=0", want: http.StatusBadRequest, check: wantError("limit")},
			{name: "ErrInvalidLimitNotANumber", method: "GET", path: path + "?limit=abc", want: http.StatusBadRequest, check: wantError("limit")},
			{name: "ErrInvalidPageZero", method: "GET", path: path + "?page=0", want: http.StatusBadRequest, check: wantError("page")},
			{name: "ErrInvalidPageNegative", method: "GET", path: path + "?page=-1", want: http.StatusBadRequest, check: wantError("page")},
			{name: "ErrInvalidPageFraction", method: "GET", path: path + "?page=1.5", want: http.StatusBadRequest, check: wantError("page")},
			{name: "ErrInvalidPageOverflow", method: "GET", path: path + "?page=99999999999999999999", want: http.StatusBadRequest, check: wantError("page")},
			{name: "ErrInvalidPageHuge", method: "GET", path: path + "?page=" + strconv.Itoa(1<<40), want: http.StatusBadRequest, check: wantError("page")},
		})
	})
}

func TestStatusWalletBalance(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		fresh := a.register(t, "balance-fresh")
		rich, _, _ := a.withAddress(t, "balance-rich", 10*usdc)
		onChain := a.register(t, "balance-onchain")
		const path = "/api/v1/wallet/balance"
		shape := func(available, total string, address any) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": available, "pending": "0", "escrowed": "0", "total": total})
				if address == "" {
					if s := str(r.JSON["withdrawalAddress"]); s == "" {
						t.Errorf("withdrawalAddress = %v, want the address set", r.JSON["withdrawalAddress"])
					}
				} else {
					wantFields(t, r.JSON, map[string]any{"withdrawalAddress": address})
				}
				wantAbsent(t, r.JSON, "warnings")
			}
		}
		newAddress := sqlstoretest.NewWallet(t)
		a.table(t, nil, []statusCase{
			{name: "OKFresh", method: "GET", path: path, key: fresh.Key, want: http.StatusOK, check: shape("0", "0", nil)},
			{name: "OKFunded", method: "GET", path: path, key: rich.Key, want: http.StatusOK, check: shape("9000000", "9000000", "")},
			{name: "ErrUnauthorized", method: "GET", path: path, want: http.StatusUnauthorized},
			// GET /balance also credits new deposits, as the spec says.
			{name: "SendOnChain", method: "POST", path: "/dev/chain/transfer", want: http.StatusOK,
				body: map[string]any{"from": sqlstoretest.NewWallet(t), "to": onChain.Deposit, "amount": 4 * usdc}},
			{name: "OKCreditsDepositsOnRead", method: "GET", path: path, key: onChain.Key, want: http.StatusOK, check: shape("3000000", "3000000", nil)},
			{name: "ChangeAddress", method: "PUT", path: "/api/v1/wallet/withdrawal-address", key: rich.Key, body: map[string]any{"address": newAddress}, want: http.StatusOK},
			{name: "OKWarningsDuringCooldown", method: "GET", path: path, key: rich.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				w, _ := r.JSON["warnings"].([]any)
				if len(w) != 1 || !strings.Contains(str(w[0]), "Security alert: Withdrawal address was changed") {
					t.Errorf("warnings = %v, want one security alert", r.JSON["warnings"])
				}
				wantFields(t, r.JSON, map[string]any{"withdrawalAddress": newAddress})
			}},
			{name: "OKOtherAgentHasNoWarnings", method: "GET", path: path, key: fresh.Key, want: http.StatusOK, check: shape("0", "0", nil)},
			{name: "AdvanceClockPastCooldown", method: "POST", path: "/dev/clock/advance", body: `{"seconds":86400}`, want: http.StatusOK},
			{name: "OKNoWarningsAfterCooldown", method: "GET", path: path, key: rich.Key, want: http.StatusOK, check: shape("9000000", "9000000", newAddress)},
		})
	})
}

func TestStatusDepositAddress(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "deposit-addr")
		const path = "/api/v1/wallet/deposit-address"
		a.table(t, nil, []statusCase{
			{name: "OK", method: "GET", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"address": ag.Deposit, "network": "solana", "token": "USDC"})
			}},
			{name: "ErrUnauthorized", method: "GET", path: path, want: http.StatusUnauthorized},
			{name: "ErrMethodNotAllowed", method: "POST", path: path, key: ag.Key, want: http.StatusMethodNotAllowed},
		})
	})
}

func TestStatusConfirmDeposit(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "depositor")
		first, second := sqlstoretest.NewWallet(t), sqlstoretest.NewWallet(t)
		const path = "/api/v1/wallet/confirm-deposit"
		transfer := func(name, from string, amount int64) statusCase {
			return statusCase{name: name, method: "POST", path: "/dev/chain/transfer", want: http.StatusOK,
				body: map[string]any{"from": from, "to": ag.Deposit, "amount": amount}}
		}
		none := func(t *testing.T, r response) {
			wantFields(t, r.JSON, map[string]any{"message": noDeposits, "depositsFound": float64(0)})
			wantAbsent(t, r.JSON, "totalCredited", "action", "deposits")
		}
		a.table(t, &ag, []statusCase{
			{name: "OKNoneFound", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: none},
			{name: "OKNoneFoundEmptyObject", method: "POST", path: path, key: ag.Key, body: `{}`, want: http.StatusOK, check: none},
			{name: "ErrInvalidBody", method: "POST", path: path, key: ag.Key, body: `{"signature":"abc"}`, want: http.StatusBadRequest},
			{name: "ErrInvalidNotJSON", method: "POST", path: path, key: ag.Key, body: `please`, want: http.StatusBadRequest},
			{name: "ErrInvalidIdempotencyKey", method: "POST", path: path, key: ag.Key, header: hdr("Idempotency-Key", strings.Repeat("k", 256)), want: http.StatusBadRequest},
			{name: "ErrUnauthorized", method: "POST", path: path, want: http.StatusUnauthorized},
			{name: "ErrConflictPanicBeforeDeposit", method: "POST", path: "/api/v1/wallet/panic", key: ag.Key, want: http.StatusConflict},
			transfer("SendSmallDeposit", first, usdc/2),
			{name: "OKSmallDepositDoesNotActivate", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"depositsFound": float64(1), "totalCredited": "500000", "activated": false,
					"action": map[string]any{"type": "set_withdrawal_address", "suggestedAddress": first,
						"message": "Set your withdrawal address to receive funds: PUT /api/v1/wallet/withdrawal-address with this address (the wallet you deposited from)."}})
				if msg := str(r.JSON["message"]); !strings.HasPrefix(msg, "1 deposit(s) credited to your account") {
					t.Errorf("message = %q", msg)
				}
			}},
			{name: "OKSecondConfirmCreditsNothing", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: none},
			{name: "ErrInvalidWithdrawBeforeActivation", method: "POST", path: "/api/v1/wallet/withdraw", key: ag.Key, body: `{"amount":5000000}`, want: http.StatusBadRequest},
			transfer("SendActivatingDeposit", second, 9*usdc),
			{name: "OKActivates", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "1 deposit(s) credited to your account", "depositsFound": float64(1),
					"totalCredited": "9000000", "activated": true})
				// The first deposit set the emergency address; the suggestion stays that wallet.
				if act, _ := r.JSON["action"].(map[string]any); act["type"] != "set_withdrawal_address" || act["suggestedAddress"] != first {
					t.Errorf("action = %v, want set_withdrawal_address to %s", r.JSON["action"], first)
				}
			}},
			{name: "OKAgainCreditsNothing", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: none},
			{name: "BalanceAfterActivation", method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": "8500000", "total": "8500000"})
			}},
			{name: "SetAddress", method: "PUT", path: "/api/v1/wallet/withdrawal-address", key: ag.Key, body: map[string]any{"address": first}, want: http.StatusOK},
			transfer("SendThirdDeposit", second, 2*usdc),
			{name: "OKNoActionOnceAddressSet", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"totalCredited": "2000000", "activated": true, "depositsFound": float64(1)})
				wantAbsent(t, r.JSON, "action")
			}},
			transfer("SendTwoDeposits", second, 1),
			transfer("SendTwoDepositsSecond", first, 2),
			{name: "OKTwoDeposits", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "2 deposit(s) credited to your account", "totalCredited": "3", "depositsFound": float64(2)})
			}},
			{name: "BalanceAtEnd", method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": "10500003"})
			}},
		})
	})
}

func TestStatusWithdrawalAddress(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag, _ := a.activated(t, "addr-agent", 10*usdc)
		first, second := sqlstoretest.NewWallet(t), sqlstoretest.NewWallet(t)
		const path = "/api/v1/wallet/withdrawal-address"
		put := func(name string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "PUT", path: path, key: ag.Key, body: body, want: want, check: check}
		}
		a.table(t, &ag, []statusCase{
			put("ErrInvalidMissingAddress", `{}`, http.StatusBadRequest, wantError("address")),
			put("ErrInvalidEmptyAddress", `{"address":""}`, http.StatusBadRequest, wantError("address")),
			put("ErrInvalidNullAddress", `{"address":null}`, http.StatusBadRequest, wantError("address")),
			put("ErrInvalidAddressNotBase58", `{"address":"0OIl-not-base58!"}`, http.StatusBadRequest, nil),
			put("ErrInvalidAddressWrongLength", `{"address":"abc"}`, http.StatusBadRequest, nil),
			put("ErrInvalidAddressEthereum", `{"address":"0x52908400098527886E0F7030069857D2E4169EE7"}`, http.StatusBadRequest, nil),
			put("ErrInvalidAddressNUL", `{"address":"\u0000"}`, http.StatusBadRequest, nil),
			put("ErrInvalidAddressWrongType", `{"address":42}`, http.StatusBadRequest, wantError("address")),
			put("ErrInvalidOwnDepositAddress", map[string]any{"address": ag.Deposit}, http.StatusBadRequest, wantError("deposit address")),
			put("ErrInvalidUnknownField", map[string]any{"address": first, "network": "solana"}, http.StatusBadRequest, wantError("unknown field")),
			put("ErrInvalidEmptyBody", nil, http.StatusBadRequest, nil),
			{name: "ErrUnauthorized", method: "PUT", path: path, body: map[string]any{"address": first}, want: http.StatusUnauthorized},
			put("OKFirstSetNoCooldown", map[string]any{"address": first}, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "Withdrawal address set", "cooldownUntil": nil, "address": first})
			}),
			put("OKSameAddressNoCooldown", map[string]any{"address": first}, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "Withdrawal address set", "cooldownUntil": nil})
			}),
			put("OKChangeStartsCooldown", map[string]any{"address": second}, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "Withdrawal address changed. 24h security cooldown started.",
					"cooldownUntil": "2026-02-10T12:00:00.000Z", "address": second})
			}),
			put("OKSameAddressKeepsCooldown", map[string]any{"address": second}, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "Withdrawal address set", "cooldownUntil": "2026-02-10T12:00:00.000Z"})
			}),
			{name: "ProfileShowsCooldown", method: "GET", path: "/api/v1/agents/me", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"withdrawalAddress": second, "withdrawalCooldownUntil": "2026-02-10T12:00:00.000Z"})
			}},
		})
	})
}

func TestStatusWithdraw(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag, _, address := a.withAddress(t, "withdrawer", 50*usdc) // 49 USDC available
		noAddr, _ := a.activated(t, "no-address", 10*usdc)
		cool, _, _ := a.withAddress(t, "cooling", 10*usdc)
		a.must(t, http.StatusOK, "PUT", "/api/v1/wallet/withdrawal-address", cool.Key, map[string]any{"address": sqlstoretest.NewWallet(t)})
		unactivated := a.register(t, "not-activated")
		const path = "/api/v1/wallet/withdraw"
		wd := func(name, body string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: ag.Key, body: body, want: want, check: check}
		}
		a.table(t, &ag, []statusCase{
			wd("ErrInvalidBelowMinimum", `{"amount":4999999}`, http.StatusBadRequest, wantError("5000000")),
			wd("ErrInvalidOneMicro", `{"amount":1}`, http.StatusBadRequest, nil),
			wd("ErrInvalidZero", `{"amount":0}`, http.StatusBadRequest, nil),
			wd("ErrInvalidFractional", `{"amount":5000000.5}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidFractionalZero", `{"amount":5000000.0}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidExponent", `{"amount":5e6}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidNegative", `{"amount":-5000000}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidString", `{"amount":"5000000"}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidBool", `{"amount":true}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidObject", `{"amount":{"value":5000000}}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidOverflow", `{"amount":9223372036854775808}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidHugeOverflow", `{"amount":`+strings.Repeat("9", 400)+`}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidMissing", `{}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidNull", `{"amount":null}`, http.StatusBadRequest, wantError("amount")),
			wd("ErrInvalidEmptyBody", ``, http.StatusBadRequest, nil),
			wd("ErrInvalidUnknownFieldAddress", `{"amount":5000000,"address":"`+sqlstoretest.NewWallet(t)+`"}`, http.StatusBadRequest, wantError("unknown field")),
			wd("ErrInsufficientFunds", `{"amount":1000000000}`, http.StatusBadRequest, wantError("insufficient")),
			wd("ErrInsufficientFundsByOneMicro", `{"amount":49000001}`, http.StatusBadRequest, wantError("insufficient")),
			wd("ErrInsufficientFundsMaxInt64", `{"amount":9223372036854775807}`, http.StatusBadRequest, wantError("insufficient")),
			{name: "ErrInvalidNoAddress", method: "POST", path: path, key: noAddr.Key, body: `{"amount":5000000}`, want: http.StatusBadRequest,
				check: wantError("withdrawal address"), money: &noAddr},
			{name: "ErrInvalidNotActivated", method: "POST", path: path, key: unactivated.Key, body: `{"amount":5000000}`, want: http.StatusBadRequest, money: &unactivated},
			{name: "ErrForbiddenCooldown", method: "POST", path: path, key: cool.Key, body: `{"amount":5000000}`, want: http.StatusForbidden,
				check: wantError("panic"), money: &cool},
			{name: "ErrUnauthorized", method: "POST", path: path, body: `{"amount":5000000}`, want: http.StatusUnauthorized},
			{name: "ErrUnsupportedMediaType", method: "POST", path: path, key: ag.Key, body: `{"amount":5000000}`,
				header: hdr("Content-Type", "text/plain"), want: http.StatusUnsupportedMediaType},
			{name: "ErrInvalidFormBody", method: "POST", path: path, key: ag.Key, body: `amount=5000000`,
				header: hdr("Content-Type", "application/x-www-form-urlencoded"), want: http.StatusBadRequest},
			{name: "ErrTooLarge", method: "POST", path: path, key: ag.Key, body: `{"amount":5000000` + strings.Repeat(" ", httpapi.MaxBodyBytes) + `}`,
				want: http.StatusRequestEntityTooLarge},
			wd("OK", `{"amount":5000000}`, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": "Withdrawal queued for processing", "fee": "100000",
					"netAmount": "4900000", "amount": "5000000", "status": "queued", "address": address})
				if str(r.JSON["transactionId"]) == "" {
					t.Errorf("transactionId missing: %v", r.JSON)
				}
			}),
			{name: "OKBalanceMovedToPending", method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": "44000000", "pending": "5000000", "total": "49000000"})
			}},
			{name: "SettleOnChain", method: "POST", path: "/dev/clock/advance", body: `{"seconds":1}`, want: http.StatusOK},
			{name: "OKSettled", method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": "44000000", "pending": "0", "total": "44000000"})
			}},
			wd("OKWholeBalance", `{"amount":44000000}`, http.StatusOK, func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"netAmount": "43900000"})
			}),
			wd("ErrInsufficientFundsEmpty", `{"amount":5000000}`, http.StatusBadRequest, wantError("insufficient")),
			{name: "OKCooldownOver", method: "POST", path: "/dev/clock/advance", body: `{"seconds":86400}`, want: http.StatusOK},
			{name: "OKAfterCooldown", method: "POST", path: path, key: cool.Key, body: `{"amount":5000000}`, want: http.StatusOK},
		})
		// The chain received exactly the net amounts.
		got, err := a.Chain.FindDeposits(t.Context(), address)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, d := range got {
			sum += d.Amount
		}
		if sum != 4_900_000+43_900_000 {
			t.Errorf("chain received %d at the withdrawal address, want %d", sum, 4_900_000+43_900_000)
		}
	})
}

func TestStatusPanic(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag, emergency := a.activated(t, "panicker", 10*usdc) // 9 USDC available
		never := a.register(t, "never-funded")
		cool, coolEmergency, _ := a.withAddress(t, "panic-cooling", 5*usdc)
		a.must(t, http.StatusOK, "PUT", "/api/v1/wallet/withdrawal-address", cool.Key, map[string]any{"address": sqlstoretest.NewWallet(t)})
		const path = "/api/v1/wallet/panic"
		a.table(t, &ag, []statusCase{
			{name: "ErrConflictNoEmergencyAddress", method: "POST", path: path, key: never.Key, want: http.StatusConflict, money: &never,
				check: wantError("emergency address")},
			{name: "ErrInvalidBody", method: "POST", path: path, key: ag.Key, body: `{"address":"x"}`, want: http.StatusBadRequest},
			{name: "ErrInvalidNotJSON", method: "POST", path: path, key: ag.Key, body: `now`, want: http.StatusBadRequest},
			{name: "ErrUnauthorized", method: "POST", path: path, want: http.StatusUnauthorized},
			{name: "OK", method: "POST", path: path, key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"message": panicMessage, "emergencyAddress": emergency, "amountWithdrawn": "9000000"})
				if str(r.JSON["transactionId"]) == "" {
					t.Errorf("transactionId missing: %v", r.JSON)
				}
			}},
			{name: "OKBalanceEmpty", method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": "0", "pending": "9000000", "total": "9000000"})
			}},
			{name: "ErrInsufficientFundsSecondPanic", method: "POST", path: path, key: ag.Key, want: http.StatusBadRequest, check: wantError("balance")},
			{name: "OKBypassesCooldown", method: "POST", path: path, key: cool.Key, body: `{}`, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"emergencyAddress": coolEmergency, "amountWithdrawn": "4000000"})
			}},
			{name: "AgentStaysActive", method: "GET", path: "/api/v1/agents/me", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"activated": true})
			}},
			{name: "Settle", method: "POST", path: "/dev/clock/advance", body: `{"seconds":1}`, want: http.StatusOK},
			{name: "OKSettled", method: "GET", path: "/api/v1/wallet/balance", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"available": "0", "pending": "0", "total": "0"})
			}},
		})
	})
}

func TestStatusTransactions(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag, _, _ := a.withAddress(t, "historian", 20*usdc)
		a.must(t, http.StatusOK, "POST", "/api/v1/wallet/withdraw", ag.Key, map[string]any{"amount": 5 * usdc})
		empty := a.register(t, "no-history")
		const path = "/api/v1/wallet/transactions"
		page := func(n int, pg map[string]any, types ...string) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				txs, _ := r.JSON["transactions"].([]any)
				if len(txs) != n {
					t.Fatalf("got %d transactions, want %d: %v", len(txs), n, r.JSON)
				}
				for i, tx := range txs {
					m := tx.(map[string]any)
					if i < len(types) && m["type"] != types[i] {
						t.Errorf("transactions[%d].type = %v, want %s", i, m["type"], types[i])
					}
					if str(m["id"]) == "" || str(m["amount"]) == "" || (m["direction"] != "in" && m["direction"] != "out") {
						t.Errorf("transaction = %v", m)
					}
				}
				wantFields(t, r.JSON, map[string]any{"pagination": pg})
			}
		}
		p := func(page, limit, total, pages float64) map[string]any {
			return map[string]any{"page": page, "limit": limit, "total": total, "totalPages": pages}
		}
		a.table(t, &ag, []statusCase{
			{name: "OK", method: "GET", path: path, key: ag.Key, want: http.StatusOK, check: page(3, p(1, 20, 3, 1), "withdrawal", "fee", "deposit")},
			{name: "OKTypeDeposit", method: "GET", path: path + "?type=deposit", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				page(1, p(1, 20, 1, 1), "deposit")(t, r)
				m := r.JSON["transactions"].([]any)[0].(map[string]any)
				wantFields(t, m, map[string]any{"amount": "20000000", "direction": "in"})
			}},
			{name: "OKTypeWithdrawal", method: "GET", path: path + "?type=withdrawal", key: ag.Key, want: http.StatusOK, check: func(t *testing.T, r response) {
				page(1, p(1, 20, 1, 1), "withdrawal")(t, r)
				m := r.JSON["transactions"].([]any)[0].(map[string]any)
				wantFields(t, m, map[string]any{"amount": "5000000", "direction": "out"})
			}},
			{name: "OKTypeEarnedEmpty", method: "GET", path: path + "?type=earned", key: ag.Key, want: http.StatusOK, check: page(0, p(1, 20, 0, 0))},
			{name: "OKPaged", method: "GET", path: path + "?limit=1&page=2", key: ag.Key, want: http.StatusOK, check: page(1, p(2, 1, 3, 3), "fee")},
			{name: "OKPastTheEnd", method: "GET", path: path + "?limit=2&page=5", key: ag.Key, want: http.StatusOK, check: page(0, p(5, 2, 3, 2))},
			{name: "OKNoHistory", method: "GET", path: path, key: empty.Key, want: http.StatusOK, check: page(0, p(1, 20, 0, 0))},
			{name: "ErrInvalidType", method: "GET", path: path + "?type=bogus", key: ag.Key, want: http.StatusBadRequest, check: wantError("type")},
			{name: "ErrInvalidTypeSettled", method: "GET", path: path + "?type=withdrawal_settled", key: ag.Key, want: http.StatusBadRequest, check: wantError("type")},
			{name: "ErrInvalidTypeNUL", method: "GET", path: path + "?type=%00", key: ag.Key, want: http.StatusBadRequest},
			{name: "ErrInvalidLimit", method: "GET", path: path + "?limit=101", key: ag.Key, want: http.StatusBadRequest, check: wantError("limit")},
			{name: "ErrInvalidPage", method: "GET", path: path + "?page=0", key: ag.Key, want: http.StatusBadRequest, check: wantError("page")},
			{name: "ErrInvalidLimitNotANumber", method: "GET", path: path + "?limit=abc", key: ag.Key, want: http.StatusBadRequest, check: wantError("limit")},
			{name: "ErrUnauthorized", method: "GET", path: path, want: http.StatusUnauthorized},
		})
	})
}

func TestStatusStats(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		a.register(t, "stats-one")
		a.activated(t, "stats-two", 2*usdc)
		a.table(t, nil, []statusCase{
			{name: "OK", method: "GET", path: "/api/v1/stats", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{
					"agents":    map[string]any{"total": float64(2), "activated": float64(1)},
					"services":  map[string]any{"active": float64(0)},
					"jobs":      map[string]any{"total": float64(0), "completed": float64(0)},
					"proposals": map[string]any{"open": float64(0)},
					"volume":    map[string]any{"total": "0"},
					"devMode":   true,
					"timestamp": "2026-02-09T12:00:00.000Z",
				})
			}},
			{name: "OKWithKey", method: "GET", path: "/api/v1/stats", key: "jp_whatever", want: http.StatusOK},
			{name: "ErrMethodNotAllowed", method: "POST", path: "/api/v1/stats", want: http.StatusMethodNotAllowed},
		})
	})
}

func TestStatusAdminLedgerVerify(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag, _ := a.activated(t, "admin-probe", 3*usdc)
		stored, err := a.DB.CreateAdminToken(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		const path = "/api/v1/admin/ledger/verify"
		okReport := func(t *testing.T, r response) {
			wantFields(t, r.JSON, map[string]any{"ok": true, "problems": []any{}, "transactions": float64(2), "postings": float64(4)})
			totals, _ := r.JSON["totals"].(map[string]any)
			wantFields(t, totals, map[string]any{"agent:*:available": "2000000", "platform:revenue": "1000000", "external:solana": "-3000000"})
		}
		a.table(t, nil, []statusCase{
			{name: "ErrUnauthorized", method: "GET", path: path, want: http.StatusUnauthorized},
			{name: "ErrForbiddenAgentKey", method: "GET", path: path, key: ag.Key, want: http.StatusForbidden},
			{name: "ErrForbiddenWrongToken", method: "GET", path: path, key: adminToken + "x", want: http.StatusForbidden},
			{name: "OK", method: "GET", path: path, key: adminToken, want: http.StatusOK, check: okReport},
			{name: "OKStoredToken", method: "GET", path: path, key: stored, want: http.StatusOK, check: okReport},
			{name: "ErrMethodNotAllowed", method: "POST", path: path, key: adminToken, want: http.StatusMethodNotAllowed},
		})
	})
}

func TestStatusHealthzAndMetrics(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		a.table(t, nil, []statusCase{
			{name: "HealthzOK", method: "GET", path: "/healthz", want: http.StatusOK, check: func(t *testing.T, r response) {
				if string(r.Raw) != "{\"status\":\"ok\"}\n" {
					t.Errorf("healthz = %q", r.Raw)
				}
			}},
			{name: "HealthzErrMethodNotAllowed", method: "POST", path: "/healthz", want: http.StatusMethodNotAllowed},
			{name: "MetricsOK", method: "GET", path: "/metrics", want: http.StatusOK, check: func(t *testing.T, r response) {
				for _, want := range []string{`justpay_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
					`justpay_http_requests_total{code="405",method="POST",route="unmatched"} 1`} {
					if !bytes.Contains(r.Raw, []byte(want)) {
						t.Errorf("metrics lack %s:\n%s", want, r.Raw)
					}
				}
			}},
			{name: "MetricsErrMethodNotAllowed", method: "POST", path: "/metrics", want: http.StatusMethodNotAllowed},
		})
	})
}

func TestStatusDev(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "dev-target")
		from := sqlstoretest.NewWallet(t)
		const transfer, advance = "/dev/chain/transfer", "/dev/clock/advance"
		tr := func(name string, body any, want int) statusCase {
			return statusCase{name: name, method: "POST", path: transfer, body: body, want: want}
		}
		adv := func(name, body string, want int) statusCase {
			return statusCase{name: name, method: "POST", path: advance, body: body, want: want}
		}
		a.table(t, &ag, []statusCase{
			tr("TransferErrInvalidFrom", map[string]any{"from": "nope", "to": ag.Deposit, "amount": usdc}, http.StatusBadRequest),
			tr("TransferErrInvalidTo", map[string]any{"from": from, "to": "0x1234", "amount": usdc}, http.StatusBadRequest),
			tr("TransferErrInvalidSameAddress", map[string]any{"from": ag.Deposit, "to": ag.Deposit, "amount": usdc}, http.StatusBadRequest),
			tr("TransferErrInvalidMissingFrom", map[string]any{"to": ag.Deposit, "amount": usdc}, http.StatusBadRequest),
			tr("TransferErrInvalidMissingAmount", map[string]any{"from": from, "to": ag.Deposit}, http.StatusBadRequest),
			tr("TransferErrInvalidZero", map[string]any{"from": from, "to": ag.Deposit, "amount": 0}, http.StatusBadRequest),
			tr("TransferErrInvalidNegative", `{"from":"`+from+`","to":"`+ag.Deposit+`","amount":-1}`, http.StatusBadRequest),
			tr("TransferErrInvalidFractional", `{"from":"`+from+`","to":"`+ag.Deposit+`","amount":1.5}`, http.StatusBadRequest),
			tr("TransferErrInvalidString", `{"from":"`+from+`","to":"`+ag.Deposit+`","amount":"1"}`, http.StatusBadRequest),
			tr("TransferErrInvalidTooLarge", `{"from":"`+from+`","to":"`+ag.Deposit+`","amount":1000000000000001}`, http.StatusBadRequest),
			tr("TransferErrInvalidOverflow", `{"from":"`+from+`","to":"`+ag.Deposit+`","amount":99999999999999999999}`, http.StatusBadRequest),
			tr("TransferErrInvalidUnknownField", map[string]any{"from": from, "to": ag.Deposit, "amount": 1, "memo": "x"}, http.StatusBadRequest),
			adv("AdvanceErrInvalidZero", `{"seconds":0}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidNegative", `{"seconds":-60}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidHuge", `{"seconds":31622401}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidOverflow", `{"seconds":9223372036854775808}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidFractional", `{"seconds":1.5}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidString", `{"seconds":"60"}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidMissing", `{}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidNull", `{"seconds":null}`, http.StatusBadRequest),
			adv("AdvanceErrInvalidEmptyBody", ``, http.StatusBadRequest),
			{name: "TransferOK", method: "POST", path: transfer, body: map[string]any{"from": from, "to": ag.Deposit, "amount": 2 * usdc}, want: http.StatusOK,
				check: func(t *testing.T, r response) {
					if s := str(r.JSON["signature"]); len(s) < 80 {
						t.Errorf("signature = %q, want a base58 Solana signature", s)
					}
				}},
			{name: "TransferOKMaxAmount", method: "POST", path: transfer, body: `{"from":"` + from + `","to":"` + sqlstoretest.NewWallet(t) + `","amount":1000000000000000}`, want: http.StatusOK},
			adv("AdvanceOK", `{"seconds":60}`, http.StatusOK),
			adv("AdvanceOKMax", `{"seconds":31622400}`, http.StatusOK),
			{name: "ClockMoved", method: "GET", path: "/api/v1/stats", want: http.StatusOK, check: func(t *testing.T, r response) {
				wantFields(t, r.JSON, map[string]any{"timestamp": "2027-02-10T12:01:00.000Z"})
			}},
			{name: "TransferErrMethodNotAllowed", method: "GET", path: transfer, want: http.StatusMethodNotAllowed},
			{name: "AdvanceErrMethodNotAllowed", method: "GET", path: advance, want: http.StatusMethodNotAllowed},
		})
	})
}

func TestStatusUnknownRoutesAndMethods(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "lost-agent")
		allow := func(methods ...string) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				got := r.Header.Get("Allow")
				for _, m := range methods {
					if !strings.Contains(got, m) {
						t.Errorf("Allow = %q, want it to list %s", got, m)
					}
				}
			}
		}
		var cases []statusCase
		for _, p := range []string{"/", "/nope", "/api/v1", "/api/v1/", "/api/v1/nope", "/api/v1/services/discover/extra", "/api/v1/jobs/open/extra",
			"/api/v1/wallet", "/api/v1/wallet/balance/extra", "/api/v1/agents/me/extra", "/api/v2/stats", "/dev/nope", "/API/V1/STATS"} {
			cases = append(cases, statusCase{name: "ErrNotFound" + p, method: "GET", path: p, key: ag.Key, want: http.StatusNotFound})
		}
		for _, c := range []struct {
			method, path string
			allowed      []string
		}{
			{"GET", "/api/v1/auth/register", []string{"POST"}},
			{"PUT", "/api/v1/auth/keys", []string{"GET", "POST"}},
			{"DELETE", "/api/v1/auth/keys", []string{"GET", "POST"}},
			{"POST", "/api/v1/auth/keys/abc", []string{"DELETE"}},
			{"POST", "/api/v1/auth/verify", []string{"GET"}},
			{"POST", "/api/v1/agents/me", []string{"GET", "PATCH"}},
			{"DELETE", "/api/v1/agents/me", []string{"GET", "PATCH"}},
			{"PATCH", "/api/v1/agents/someone", []string{"GET"}},
			{"POST", "/api/v1/agents/someone/ratings", []string{"GET"}},
			{"GET", "/api/v1/services", []string{"POST"}},
			{"PUT", "/api/v1/services/someid", []string{"GET", "PATCH", "DELETE"}},
			{"POST", "/api/v1/services/discover", []string{"GET"}},
			{"DELETE", "/api/v1/jobs", []string{"GET", "POST"}},
			{"POST", "/api/v1/jobs/open", []string{"GET"}},
			{"DELETE", "/api/v1/jobs/someid", []string{"GET"}},
			{"GET", "/api/v1/jobs/someid/accept-delivery", []string{"POST"}},
			{"GET", "/api/v1/jobs/someid/applications/appid/accept", []string{"POST"}},
			{"DELETE", "/api/v1/wallet/balance", []string{"GET"}},
			{"GET", "/api/v1/wallet/confirm-deposit", []string{"POST"}},
			{"POST", "/api/v1/wallet/withdrawal-address", []string{"PUT"}},
			{"GET", "/api/v1/wallet/withdraw", []string{"POST"}},
			{"PUT", "/api/v1/wallet/withdraw", []string{"POST"}},
			{"GET", "/api/v1/wallet/panic", []string{"POST"}},
			{"POST", "/api/v1/wallet/transactions", []string{"GET"}},
			{"DELETE", "/api/v1/admin/ledger/verify", []string{"GET"}},
			{"OPTIONS", "/api/v1/wallet/withdraw", []string{"POST"}},
			{"TRACE", "/api/v1/stats", []string{"GET"}},
			{"BREW", "/api/v1/agents/me", []string{"GET", "PATCH"}},
		} {
			cases = append(cases, statusCase{name: "ErrMethodNotAllowed" + c.method + c.path, method: c.method, path: c.path,
				key: ag.Key, want: http.StatusMethodNotAllowed, check: allow(c.allowed...)})
		}
		a.table(t, &ag, cases)
	})
}

// TestIdempotentWithdraw checks Idempotency-Key on POST /wallet/withdraw through the real store.
func TestIdempotentWithdraw(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag, _, _ := a.withAddress(t, "idem-agent", 101*usdc) // 100 USDC available
		const path = "/api/v1/wallet/withdraw"
		withKey := func(key, body string) request {
			return request{Method: "POST", Path: path, Key: ag.Key, Body: body, Header: hdr("Idempotency-Key", key)}
		}
		withdrawals := func(t *testing.T) float64 {
			t.Helper()
			got := a.must(t, http.StatusOK, "GET", "/api/v1/wallet/transactions?type=withdrawal", ag.Key, nil)
			return got["pagination"].(map[string]any)["total"].(float64)
		}

		t.Run("OKReplay", func(t *testing.T) {
			first := a.send(t, withKey("key-1", `{"amount":5000000}`))
			if first.Status != http.StatusOK || first.Header.Get("Idempotency-Replayed") != "" {
				t.Fatalf("first = %d %s (replayed %q)", first.Status, first.Raw, first.Header.Get("Idempotency-Replayed"))
			}
			second := a.send(t, withKey("key-1", `{"amount":5000000}`))
			if second.Status != http.StatusOK || second.Header.Get("Idempotency-Replayed") != "true" {
				t.Fatalf("second = %d (replayed %q)", second.Status, second.Header.Get("Idempotency-Replayed"))
			}
			if !bytes.Equal(first.Raw, second.Raw) {
				t.Errorf("replay body differs:\n%s\n%s", first.Raw, second.Raw)
			}
			if n := withdrawals(t); n != 1 {
				t.Errorf("withdrawals = %v, want 1", n)
			}
			wantFields(t, a.balance(t, ag), map[string]any{"available": "95000000", "pending": "5000000"})
		})

		t.Run("ErrUnprocessableOtherAmount", func(t *testing.T) {
			before := a.snapshot(t, ag)
			r := a.send(t, withKey("key-1", `{"amount":6000000}`))
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d %s, want 422", r.Status, r.Raw)
			}
			if after := a.snapshot(t, ag); after != before {
				t.Errorf("rejected request left a trace:\nbefore %s\nafter  %s", before, after)
			}
		})

		t.Run("OKRejectionIsReplayedToo", func(t *testing.T) {
			first := a.send(t, withKey("key-small", `{"amount":1}`))
			second := a.send(t, withKey("key-small", `{"amount":1}`))
			if first.Status != http.StatusBadRequest || second.Status != http.StatusBadRequest ||
				second.Header.Get("Idempotency-Replayed") != "true" || !bytes.Equal(first.Raw, second.Raw) {
				t.Errorf("first %d %s, second %d %s (replayed %q)", first.Status, first.Raw, second.Status, second.Raw,
					second.Header.Get("Idempotency-Replayed"))
			}
		})

		t.Run("OKKeysAreScopedToTheAgent", func(t *testing.T) {
			other, _, _ := a.withAddress(t, "idem-other", 11*usdc)
			r := a.send(t, request{Method: "POST", Path: path, Key: other.Key, Body: `{"amount":5000000}`, Header: hdr("Idempotency-Key", "key-1")})
			if r.Status != http.StatusOK || r.Header.Get("Idempotency-Replayed") != "" {
				t.Errorf("other agent's key-1 = %d %s (replayed %q), want a fresh 200", r.Status, r.Raw, r.Header.Get("Idempotency-Replayed"))
			}
		})

		t.Run("ErrInvalidKey", func(t *testing.T) {
			for _, k := range []string{strings.Repeat("k", 256), "tab\tkey", "ünicode"} {
				r := a.send(t, withKey(k, `{"amount":5000000}`))
				if r.Status != http.StatusBadRequest {
					t.Errorf("Idempotency-Key %q: status = %d, want 400", k, r.Status)
				}
			}
		})

		t.Run("OKConcurrent", func(t *testing.T) {
			before := withdrawals(t)
			const n = 10
			rq := withKey("key-concurrent", `{"amount":7000000}`)
			results := make([]response, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { results[i], errs[i] = a.roundTrip(rq) })
			}
			wg.Wait()
			var ok []response
			for i, r := range results {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				checkResponse(t, rq, &r)
				switch {
				case r.Status == http.StatusOK:
					ok = append(ok, r)
				case r.Status == http.StatusConflict:
				default:
					t.Errorf("request %d: %d %s, want 200 or 409", i, r.Status, r.Raw)
				}
			}
			fresh := 0
			for _, r := range ok {
				if r.Header.Get("Idempotency-Replayed") != "true" {
					fresh++
				}
				if !bytes.Equal(r.Raw, ok[0].Raw) {
					t.Errorf("200 bodies differ:\n%s\n%s", r.Raw, ok[0].Raw)
				}
			}
			if fresh != 1 {
				t.Errorf("%d requests ran the withdrawal, want exactly 1 (the others 409 or replays)", fresh)
			}
			if got := withdrawals(t); got != before+1 {
				t.Errorf("withdrawals = %v, want %v", got, before+1)
			}
			// Once settled, the key only replays.
			r := a.send(t, rq)
			if r.Status != http.StatusOK || r.Header.Get("Idempotency-Replayed") != "true" {
				t.Errorf("after the race: %d %s (replayed %q), want a replay", r.Status, r.Raw, r.Header.Get("Idempotency-Replayed"))
			}
			wantFields(t, a.balance(t, ag), map[string]any{"available": "88000000", "pending": "12000000"})
		})
		sqlstoretest.MustVerify(t, a.DB)
	})
}

// TestRateLimitPublicStats checks the spec's "IP rate limited" public route through the real server.
func TestRateLimitPublicStats(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{PublicPerIP: 3})
		for range 3 {
			a.must(t, http.StatusOK, "GET", "/api/v1/stats", "", nil)
		}
		status, body, h := a.do(t, "GET", "/api/v1/stats", "", nil)
		if status != http.StatusTooManyRequests {
			t.Fatalf("4th GET /stats = %d %v, want 429", status, body)
		}
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q, want whole seconds >= 1", h.Get("Retry-After"))
		}
		// Only the limited public route is limited, each on its own.
		a.must(t, http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{"name": "not-limited"})
		a.must(t, http.StatusOK, "GET", "/api/v1/proposals", "", nil)
		a.must(t, http.StatusOK, "GET", "/api/v1/campaigns/discover", "", nil)
		a.must(t, http.StatusOK, "GET", "/healthz", "", nil)
		// A minute later the bucket is full again.
		a.Clock.Advance(time.Minute)
		a.must(t, http.StatusOK, "GET", "/api/v1/stats", "", nil)
	})
}

// TestStatusConcurrent races requests that must serialize in the store: the answers are 2xx or
// 4xx, never a 5xx, and the books add up.
func TestStatusConcurrent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		count := func(rs []response, status int) int { return statusCounts(rs)[status] }

		t.Run("WithdrawalsNeverOverdraw", func(t *testing.T) {
			ag, _, _ := a.withAddress(t, "race-withdraw", 101*usdc) // 100 USDC available
			rqs := make([]request, 10)
			for i := range rqs {
				rqs[i] = request{Method: "POST", Path: "/api/v1/wallet/withdraw", Key: ag.Key, Body: `{"amount":30000000}`}
			}
			rs := a.race(t, rqs)
			if ok, poor := count(rs, http.StatusOK), count(rs, http.StatusBadRequest); ok != 3 || poor != 7 {
				t.Errorf("%d withdrawals of 30 USDC from 100 succeeded and %d were refused, want 3 and 7", ok, poor)
			}
			wantFields(t, a.balance(t, ag), map[string]any{"available": "10000000", "pending": "90000000"})
		})

		t.Run("PanicAndWithdrawMoveTheBalanceOnce", func(t *testing.T) {
			ag, _, _ := a.withAddress(t, "race-panic", 21*usdc) // 20 USDC available
			var rqs []request
			for range 4 {
				rqs = append(rqs, request{Method: "POST", Path: "/api/v1/wallet/panic", Key: ag.Key},
					request{Method: "POST", Path: "/api/v1/wallet/withdraw", Key: ag.Key, Body: `{"amount":5000000}`})
			}
			a.race(t, rqs)
			wantFields(t, a.balance(t, ag), map[string]any{"available": "0", "pending": "20000000", "total": "20000000"})
		})

		t.Run("DepositCreditedOnce", func(t *testing.T) {
			ag := a.register(t, "race-deposit")
			a.must(t, http.StatusOK, "POST", "/dev/chain/transfer", "", map[string]any{"from": sqlstoretest.NewWallet(t), "to": ag.Deposit, "amount": 5 * usdc})
			var rqs []request
			for range 5 {
				rqs = append(rqs, request{Method: "POST", Path: "/api/v1/wallet/confirm-deposit", Key: ag.Key},
					request{Method: "GET", Path: "/api/v1/wallet/balance", Key: ag.Key})
			}
			rs := a.race(t, rqs)
			credited := 0
			for _, r := range rs {
				if r.JSON["totalCredited"] == "5000000" {
					credited++
				}
			}
			if credited > 1 || count(rs, http.StatusOK) != len(rs) {
				t.Errorf("%d confirm-deposit answers credited the deposit (want at most 1); statuses %v", credited, rs)
			}
			wantFields(t, a.balance(t, ag), map[string]any{"available": "4000000", "total": "4000000"})
		})

		t.Run("RegisterSameName", func(t *testing.T) {
			rqs := make([]request, 8)
			for i := range rqs {
				rqs[i] = request{Method: "POST", Path: "/api/v1/auth/register", Body: `{"name":"race-name"}`}
			}
			rs := a.race(t, rqs)
			if created, taken := count(rs, http.StatusCreated), count(rs, http.StatusConflict); created != 1 || taken != 7 {
				t.Errorf("%d registrations of one name succeeded and %d conflicted, want 1 and 7", created, taken)
			}
		})

		t.Run("RevokeNeverLeavesNoKey", func(t *testing.T) {
			ag := a.register(t, "race-revoke")
			other := str(a.must(t, http.StatusCreated, "POST", "/api/v1/auth/keys", ag.Key, nil)["apiKey"])
			list := a.must(t, http.StatusOK, "GET", "/api/v1/auth/keys", ag.Key, nil)["keys"].([]any)
			rqs := []request{
				{Method: "DELETE", Path: "/api/v1/auth/keys/" + str(list[0].(map[string]any)["keyId"]), Key: ag.Key},
				{Method: "DELETE", Path: "/api/v1/auth/keys/" + str(list[1].(map[string]any)["keyId"]), Key: other},
			}
			rs := a.race(t, rqs)
			okCount := count(rs, http.StatusOK)
			if okCount != 1 || count(rs, http.StatusConflict)+count(rs, http.StatusUnauthorized) != 1 {
				t.Errorf("statuses %d, %d: want one revocation and one refusal", rs[0].Status, rs[1].Status)
			}
			alive := 0
			for _, k := range []string{ag.Key, other} {
				if s, _, _ := a.do(t, "GET", "/api/v1/auth/verify", k, nil); s == http.StatusOK {
					alive++
				}
			}
			if alive != 1 {
				t.Errorf("%d keys still work, want exactly 1", alive)
			}
		})
		sqlstoretest.MustVerify(t, a.DB)
	})
}

// TestEmergencyAddressNeverPlatformWallet: an agent whose first deposit is another agent's
// withdrawal must not end up with the platform's hot wallet as its emergency address (or as the
// suggested withdrawal address), or POST /wallet/panic would send its whole balance to the
// platform itself. Either fix passes: refusing a justpay deposit address as a withdrawal address,
// or not taking a platform wallet as the emergency address.
func TestEmergencyAddressNeverPlatformWallet(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		payer, _ := a.activated(t, "payer", 20*usdc)
		payee := a.register(t, "payee")
		status, got, _ := a.do(t, "PUT", "/api/v1/wallet/withdrawal-address", payer.Key, map[string]any{"address": payee.Deposit})
		if status == http.StatusBadRequest {
			return // a deposit address of the platform is refused: fine
		}
		if status != http.StatusOK {
			t.Fatalf("set withdrawal address to another agent's deposit address: %d %v", status, got)
		}
		a.must(t, http.StatusOK, "POST", "/api/v1/wallet/withdraw", payer.Key, map[string]any{"amount": 10 * usdc})
		a.must(t, http.StatusOK, "POST", "/dev/clock/advance", "", map[string]any{"seconds": 1})
		confirm := a.must(t, http.StatusOK, "POST", "/api/v1/wallet/confirm-deposit", payee.Key, nil)
		if act, _ := confirm["action"].(map[string]any); act["suggestedAddress"] == devchain.HotWallet {
			t.Errorf("confirm-deposit suggests the platform hot wallet %s as withdrawal address", devchain.HotWallet)
		}
		me := a.must(t, http.StatusOK, "GET", "/api/v1/agents/me", payee.Key, nil)
		if me["emergencyAddress"] == devchain.HotWallet {
			t.Errorf("emergencyAddress is the platform hot wallet %s: panic would send the agent's funds to the platform", devchain.HotWallet)
		}
		sqlstoretest.MustVerify(t, a.DB)
	})
}

// The dev faucet gives an address at most devchain.MaxTransferAmount in total, so simulated money
// never nears int64's range; the ledger refuses an overflowing credit on its own as well
// (sqlstore's TestPostTransfer).
func TestDevFaucetCap(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		ag := a.register(t, "whale")
		wallet := sqlstoretest.NewWallet(t)
		body := fmt.Sprintf(`{"from":%q,"to":%q,"amount":%d}`, wallet, ag.Deposit, devchain.MaxTransferAmount)
		if status, got, _ := a.do(t, "POST", "/dev/chain/transfer", "", body); status != 200 {
			t.Fatalf("first transfer: %d %v", status, got)
		}
		body = fmt.Sprintf(`{"from":%q,"to":%q,"amount":1}`, wallet, ag.Deposit)
		if status, got, _ := a.do(t, "POST", "/dev/chain/transfer", "", body); status != 400 || !strings.Contains(str(got["error"]), "at most") {
			t.Fatalf("transfer over the cap: %d %v", status, got)
		}
		status, got, _ := a.do(t, "POST", "/api/v1/wallet/confirm-deposit", ag.Key, nil)
		if status != 200 || str(got["totalCredited"]) != fmt.Sprint(devchain.MaxTransferAmount) {
			t.Fatalf("confirm-deposit: %d %v", status, got)
		}
		sqlstoretest.MustVerify(t, a.DB)
	})
}
