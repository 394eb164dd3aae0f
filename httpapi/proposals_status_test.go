package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of the proposal routes (the feedback board), on SQLite and (with
// JUSTPAY_TEST_POSTGRES) PostgreSQL.

// proposalPath is the path of a proposal, or of one of its actions ("vote").
func proposalPath(id string, action ...string) string {
	return strings.Join(append([]string{"/api/v1/proposals/" + id}, action...), "/")
}

// adminProposalPath is the admin's status route of a proposal.
func adminProposalPath(id string) string { return "/api/v1/admin/proposals/" + id + "/status" }

// proposalBody is the spec's example proposal with the fields of over replaced (a nil value
// removes the field).
func proposalBody(over map[string]any) map[string]any {
	body := map[string]any{
		"title":       "WebSocket support for real-time job updates",
		"description": "Allow agents to subscribe to job status changes instead of polling",
		"category":    "feature",
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

// createProposal creates a proposal for ag through the API and returns its ID.
func (a *api) createProposal(tb testing.TB, ag agent, over map[string]any) string {
	tb.Helper()
	return str(a.must(tb, http.StatusCreated, "POST", "/api/v1/proposals", ag.Key, proposalBody(over))["id"])
}

// proposalFields are the fields of the proposal JSON, sorted, without hasVoted, which is present
// exactly when the request carried a valid API key.
var proposalFields = []string{"authorAgentId", "authorName", "category", "createdAt", "description", "id", "status", "title",
	"updatedAt", "voteCount"}

// checkProposal checks the shape of a proposal, hasVoted present exactly when withVote, and the
// given fields.
func checkProposal(t *testing.T, m map[string]any, withVote bool, want map[string]any) {
	t.Helper()
	fields := slices.Clone(proposalFields)
	if withVote {
		fields = append(fields, "hasVoted")
		slices.Sort(fields)
	}
	if got := sortedKeys(m); !slices.Equal(got, fields) {
		t.Errorf("proposal fields = %v, want %v", got, fields)
	}
	wantFields(t, m, want)
}

// wantProposal is a check of a proposal response.
func wantProposal(withVote bool, want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		checkProposal(t, r.JSON, withVote, want)
	}
}

// wantProposals checks a list: the IDs in order (unless ids is nil), the total, and hasVoted on
// each item (voted nil: the field must be absent everywhere).
func wantProposals(total int, ids []string, voted []bool) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		items, _ := r.JSON["proposals"].([]any)
		var got []string
		for i, it := range items {
			m, _ := it.(map[string]any)
			got = append(got, str(m["id"]))
			if voted == nil {
				checkProposal(t, m, false, nil)
			} else if i < len(voted) {
				checkProposal(t, m, true, map[string]any{"hasVoted": voted[i]})
			}
		}
		if ids != nil && !slices.Equal(got, ids) {
			t.Errorf("proposals = %v, want %v", got, ids)
		}
		if p, _ := r.JSON["pagination"].(map[string]any); p == nil || p["total"] != float64(total) {
			t.Errorf("pagination = %v, want total %d", r.JSON["pagination"], total)
		}
	}
}

// wantVotes checks a vote's answer: exactly {"voteCount": n}.
func wantVotes(n int) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if len(r.JSON) != 1 || r.JSON["voteCount"] != float64(n) {
			t.Errorf("answer %s, want {\"voteCount\": %d}", r.Raw, n)
		}
	}
}

func TestStatusProposals(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		author, _ := a.activated(t, "board-author", 2*usdc)
		voter, _ := a.activated(t, "board-voter", 2*usdc)
		voter2, _ := a.activated(t, "board-voter2", 2*usdc)
		idle := a.register(t, "board-idle")
		t0 := a.Clock.Now()
		pA := a.createProposal(t, author, nil)
		a.Clock.Advance(time.Second)
		pB := a.createProposal(t, author, map[string]any{"title": "Webhook retries dashboard", "category": "tooling"})
		a.Clock.Advance(time.Second)
		pC := a.createProposal(t, voter, map[string]any{"title": "Fix rounding in fee display", "category": "bug"})
		a.Clock.Advance(time.Second)
		for _, v := range []struct {
			ag agent
			id string
		}{{voter, pA}, {voter2, pA}, {voter2, pB}} {
			a.must(t, http.StatusOK, "POST", proposalPath(v.id, "vote"), v.ag.Key, nil)
		}
		var pD, pShort, pLong string // created by the table at t0+3s

		const path = "/api/v1/proposals"
		create := func(name string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: author.Key, body: body, want: want, check: check}
		}
		get := func(name, p, key string, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "GET", path: p, key: key, want: want, check: check}
		}
		vote := func(name, method, id, key string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: method, path: proposalPath(id, "vote"), key: key, body: body, want: want, check: check}
		}
		decide := func(name, id, key string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: adminProposalPath(id), key: key, body: body, want: want, check: check}
		}
		// list checks a list whose IDs are only known once the table runs (pD).
		list := func(name, query, key string, total int, ids func() []string, voted []bool) statusCase {
			return statusCase{name: name, method: "GET", path: path + query, key: key, want: http.StatusOK, check: func(t *testing.T, r response) {
				t.Helper()
				wantProposals(total, ids(), voted)(t, r)
			}}
		}
		ids := func(vs ...*string) func() []string {
			return func() []string {
				out := []string{}
				for _, v := range vs {
					out = append(out, *v)
				}
				return out
			}
		}
		long := func(n int) string { return strings.Repeat("x", n) }

		cases := []statusCase{
			create("OK", proposalBody(map[string]any{"title": "  Batch job creation ", "category": "integration",
				"description": "Create up to 50 jobs in one request"}), http.StatusCreated,
				capture(&pD, "id", wantProposal(true, map[string]any{"title": "Batch job creation", "description": "Create up to 50 jobs in one request",
					"category": "integration", "status": "open", "voteCount": 0.0, "hasVoted": false, "authorAgentId": author.ID,
					"authorName": "board-author", "createdAt": at(t0, 3*time.Second), "updatedAt": at(t0, 3*time.Second)}))),
			create("OKBoundsShort", proposalBody(map[string]any{"title": "12345", "description": "1234567890", "category": "bug"}), http.StatusCreated,
				capture(&pShort, "id", wantProposal(true, map[string]any{"title": "12345", "description": "1234567890"}))),
			create("OKBoundsLong", proposalBody(map[string]any{"title": long(200), "description": long(2000), "category": "tooling"}), http.StatusCreated,
				capture(&pLong, "id", wantProposal(true, map[string]any{"title": long(200), "description": long(2000)}))),
			create("ErrInvalidTitleMissing", proposalBody(map[string]any{"title": nil}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidTitleShort", proposalBody(map[string]any{"title": "abcd"}), http.StatusBadRequest, wantError("title", "5-200")),
			create("ErrInvalidTitleShortTrimmed", proposalBody(map[string]any{"title": "   abcd   "}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidTitleLong", proposalBody(map[string]any{"title": long(201)}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidTitleNUL", proposalBody(map[string]any{"title": "a\u0000bcdef"}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidTitleNotString", proposalBody(map[string]any{"title": 12345}), http.StatusBadRequest, wantError("title")),
			create("ErrInvalidDescriptionMissing", proposalBody(map[string]any{"description": nil}), http.StatusBadRequest, wantError("description")),
			create("ErrInvalidDescriptionShort", proposalBody(map[string]any{"description": "too short"}), http.StatusBadRequest, wantError("description", "10-2000")),
			create("ErrInvalidDescriptionLong", proposalBody(map[string]any{"description": long(2001)}), http.StatusBadRequest, wantError("description")),
			create("ErrInvalidCategoryMissing", proposalBody(map[string]any{"category": nil}), http.StatusBadRequest, wantError("category")),
			create("ErrInvalidCategoryUnknown", proposalBody(map[string]any{"category": "wish"}), http.StatusBadRequest,
				wantError("category", "feature", "integration", "bug", "tooling")),
			create("ErrInvalidUnknownField", proposalBody(map[string]any{"status": "accepted"}), http.StatusBadRequest, wantError("status")),
			create("ErrInvalidNotJSON", "{title", http.StatusBadRequest, nil),
			create("ErrInvalidNoBody", nil, http.StatusBadRequest, nil),
			create("ErrConflictDuplicateTitle", proposalBody(map[string]any{"title": " websocket SUPPORT  for real-time job updates"}),
				http.StatusConflict, wantError("exists")),
			{name: "ErrConflictDuplicateTitleOtherAgent", method: "POST", path: path, key: voter.Key,
				body: proposalBody(map[string]any{"title": "Webhook Retries Dashboard"}), want: http.StatusConflict},
			{name: "ErrUnauthorized", method: "POST", path: path, body: proposalBody(map[string]any{"title": "Anonymous idea"}), want: http.StatusUnauthorized},
			{name: "ErrUnauthorizedBadKey", method: "POST", path: path, key: "jp_nope", body: proposalBody(map[string]any{"title": "Anonymous idea"}), want: http.StatusUnauthorized},
			{name: "ErrForbiddenNotActivated", method: "POST", path: path, key: idle.Key, body: proposalBody(map[string]any{"title": "Idle idea"}), want: http.StatusForbidden},
			{name: "ErrMethodNotAllowed", method: "PUT", path: path, key: author.Key, want: http.StatusMethodNotAllowed},

			// Lists. Votes: pA 2 (t0), pB 1 (t0+1s, tooling), pC 0 (t0+2s, bug), and pD, pShort
			// (bug), pLong (tooling), 0 each, made at t0+3s in no fixed order among themselves.
			list("ListVotesByCategory", "?category=feature", "", 1, ids(&pA), nil),
			list("ListRecent", "?sort=recent&limit=20", "", 6, func() []string { return nil }, nil),
			get("ListRecentOrder", path+"?sort=recent&status=open&page=1&limit=100", "", http.StatusOK, func(t *testing.T, r response) {
				items, _ := r.JSON["proposals"].([]any)
				var got []string
				for _, it := range items {
					got = append(got, str(it.(map[string]any)["id"]))
				}
				// The three made at t0+3s come first (in no fixed order among themselves), then pC, pB, pA.
				if len(got) != 6 || !slices.Equal(got[3:], []string{pC, pB, pA}) || !slices.Contains(got[:3], pD) {
					t.Errorf("recent = %v, want [3 of t0+3s incl. %s] then %s %s %s", got, pD, pC, pB, pA)
				}
			}),
			get("ListVotesOrder", path+"?sort=votes", "", http.StatusOK, func(t *testing.T, r response) {
				items, _ := r.JSON["proposals"].([]any)
				var got []string
				for _, it := range items {
					got = append(got, str(it.(map[string]any)["id"]))
				}
				if len(got) != 6 || !slices.Equal(got[:2], []string{pA, pB}) || got[5] != pC {
					t.Errorf("by votes = %v, want %s %s first and %s (oldest of the zeros) last", got, pA, pB, pC)
				}
			}),
			list("ListDefaultIsVotes", "?category=tooling", "", 2, ids(&pB, &pLong), nil),
			list("ListRecentByCategory", "?category=tooling&sort=recent", "", 2, ids(&pLong, &pB), nil),
			list("ListFilters", "?category=bug&status=open&sort=recent", "", 2, ids(&pShort, &pC), nil),
			list("ListPage1", "?category=tooling&page=1&limit=1", "", 2, ids(&pB), nil),
			list("ListPage2Of2", "?category=tooling&page=2&limit=1", "", 2, ids(&pLong), nil),
			list("ListIntegration", "?category=integration", "", 1, ids(&pD), nil),
			list("ListPage2", "?category=feature&page=2&limit=1", "", 1, ids(), nil),
			list("ListHasVotedWithKey", "?category=feature", voter2.Key, 1, ids(&pA), []bool{true}),
			list("ListHasVotedFalse", "?category=integration", voter2.Key, 1, ids(&pD), []bool{false}),
			list("ListBadKeyIsAnonymous", "?category=feature", "jp_nope", 1, ids(&pA), nil),
			list("ListNotActivatedSeesVotes", "?category=feature", idle.Key, 1, ids(&pA), []bool{false}),
			get("ErrInvalidSort", path+"?sort=top", "", http.StatusBadRequest, wantError("sort", "votes", "recent")),
			get("ErrInvalidStatus", path+"?status=closed", "", http.StatusBadRequest, wantError("status")),
			get("ErrInvalidCategory", path+"?category=wish", "", http.StatusBadRequest, wantError("category")),
			get("ErrInvalidLimit", path+"?limit=101", "", http.StatusBadRequest, wantError("limit")),
			get("ErrInvalidPage", path+"?page=0", "", http.StatusBadRequest, wantError("page")),
			get("ErrInvalidPageNotANumber", path+"?page=abc", "", http.StatusBadRequest, wantError("page")),

			// One proposal.
			get("GetAnonymous", proposalPath(pA), "", http.StatusOK, wantProposal(false, map[string]any{"id": pA, "voteCount": 2.0,
				"status": "open", "title": "WebSocket support for real-time job updates", "authorAgentId": author.ID, "createdAt": at(t0, 0)})),
			get("GetVoted", proposalPath(pA), voter.Key, http.StatusOK, wantProposal(true, map[string]any{"hasVoted": true})),
			get("GetNotVoted", proposalPath(pA), author.Key, http.StatusOK, wantProposal(true, map[string]any{"hasVoted": false})),
			get("GetBadKeyIsAnonymous", proposalPath(pA), "jp_nope", http.StatusOK, wantProposal(false, nil)),
			get("ErrNotFound", proposalPath(unknownID), "", http.StatusNotFound, wantError("proposal not found")),
			get("ErrNotFoundMalformed", proposalPath("nope"), "", http.StatusNotFound, nil),

			// Votes.
			vote("Vote", "POST", pB, voter.Key, nil, http.StatusOK, wantVotes(2)),
			vote("VoteEmptyObject", "POST", pC, voter2.Key, map[string]any{}, http.StatusOK, wantVotes(1)),
			get("VotedShows", proposalPath(pB), voter.Key, http.StatusOK, wantProposal(true, map[string]any{"hasVoted": true, "voteCount": 2.0})),
			vote("VoteErrConflictTwice", "POST", pB, voter.Key, nil, http.StatusConflict, wantError("already")),
			vote("VoteErrForbiddenOwnProposal", "POST", pA, author.Key, nil, http.StatusForbidden, wantError("own")),
			vote("VoteErrForbiddenNotActivated", "POST", pA, idle.Key, nil, http.StatusForbidden, nil),
			vote("VoteErrUnauthorized", "POST", pA, "", nil, http.StatusUnauthorized, nil),
			vote("VoteErrNotFound", "POST", unknownID, voter.Key, nil, http.StatusNotFound, nil),
			vote("VoteErrNotFoundMalformed", "POST", "nope", voter.Key, nil, http.StatusNotFound, nil),
			vote("VoteErrInvalidBody", "POST", pA, voter.Key, map[string]any{"up": true}, http.StatusBadRequest, nil),
			vote("Unvote", "DELETE", pB, voter.Key, nil, http.StatusOK, wantVotes(1)),
			get("UnvotedShows", proposalPath(pB), voter.Key, http.StatusOK, wantProposal(true, map[string]any{"hasVoted": false, "voteCount": 1.0})),
			vote("UnvoteErrConflictTwice", "DELETE", pB, voter.Key, nil, http.StatusConflict, wantError("not voted")),
			vote("UnvoteErrConflictNeverVoted", "DELETE", pA, author.Key, nil, http.StatusConflict, nil),
			vote("UnvoteErrUnauthorized", "DELETE", pA, "", nil, http.StatusUnauthorized, nil),
			vote("UnvoteErrForbiddenNotActivated", "DELETE", pA, idle.Key, nil, http.StatusForbidden, nil),
			vote("UnvoteErrNotFound", "DELETE", unknownID, voter.Key, nil, http.StatusNotFound, nil),
			vote("VotesErrMethodNotAllowed", "PUT", pA, voter.Key, nil, http.StatusMethodNotAllowed, nil),

			// Admins' decisions.
			decide("AdminErrForbiddenAgentKey", pA, author.Key, map[string]any{"status": "accepted"}, http.StatusForbidden, nil),
			decide("AdminErrUnauthorizedNoToken", pA, "", map[string]any{"status": "accepted"}, http.StatusUnauthorized, nil),
			decide("AdminErrInvalidStatusOpen", pA, adminToken, map[string]any{"status": "open"}, http.StatusBadRequest, wantError("status", "accepted", "declined", "shipped")),
			decide("AdminErrInvalidStatusUnknown", pA, adminToken, map[string]any{"status": "done"}, http.StatusBadRequest, wantError("status")),
			decide("AdminErrInvalidStatusMissing", pA, adminToken, map[string]any{}, http.StatusBadRequest, wantError("status")),
			decide("AdminErrInvalidUnknownField", pA, adminToken, map[string]any{"status": "accepted", "note": "yes"}, http.StatusBadRequest, wantError("note")),
			decide("AdminErrNotFound", unknownID, adminToken, map[string]any{"status": "accepted"}, http.StatusNotFound, nil),
			decide("AdminErrNotFoundMalformed", "nope", adminToken, map[string]any{"status": "accepted"}, http.StatusNotFound, nil),
			advance("Later", time.Second),
			decide("AdminAccept", pA, adminToken, map[string]any{"status": "accepted"}, http.StatusOK, wantProposal(false, map[string]any{
				"id": pA, "status": "accepted", "voteCount": 2.0, "createdAt": at(t0, 0), "updatedAt": at(t0, 4*time.Second)})),
			decide("AdminErrConflictSameStatus", pA, adminToken, map[string]any{"status": "accepted"}, http.StatusConflict, wantError("already")),
			advance("LaterStill", time.Second),
			decide("AdminShip", pA, adminToken, map[string]any{"status": "shipped"}, http.StatusOK, wantProposal(false, map[string]any{"status": "shipped"})),
			decide("AdminErrConflictShippedIsFinal", pA, adminToken, map[string]any{"status": "declined"}, http.StatusConflict, wantError("final")),
			advance("LaterAgain", time.Second),
			decide("AdminDecline", pC, adminToken, map[string]any{"status": "declined"}, http.StatusOK, wantProposal(false, map[string]any{"status": "declined"})),
			vote("VoteErrConflictDecided", "POST", pC, author.Key, nil, http.StatusConflict, wantError("open")),
			vote("UnvoteErrConflictDecided", "DELETE", pA, voter.Key, nil, http.StatusConflict, nil),
			vote("UnvoteErrConflictDecidedVoter2", "DELETE", pC, voter2.Key, nil, http.StatusConflict, nil),
			get("DecidedKeepsVotes", proposalPath(pA), voter.Key, http.StatusOK, wantProposal(true, map[string]any{"voteCount": 2.0, "hasVoted": true, "status": "shipped"})),
			list("ListShipped", "?status=shipped", "", 1, ids(&pA), nil),
			list("ListDeclined", "?status=declined", "", 1, ids(&pC), nil),
			list("ListAccepted", "?status=accepted", "", 0, ids(), nil),
			list("ListOpenFeature", "?status=open&category=feature", "", 0, ids(), nil),
			{name: "Audit", method: "GET", path: "/api/v1/admin/audit", key: adminToken, want: http.StatusOK, check: func(t *testing.T, r response) {
				records, _ := r.JSON["records"].([]any)
				want := []struct{ target, from, to string }{{pC, "open", "declined"}, {pA, "accepted", "shipped"}, {pA, "open", "accepted"}}
				if len(records) != len(want) {
					t.Fatalf("audit = %s, want %d records", r.Raw, len(want))
				}
				for i, w := range want {
					wantFields(t, records[i].(map[string]any), map[string]any{"action": "proposal.set_status", "targetType": "proposal",
						"targetId": w.target, "details": map[string]any{"from": w.from, "to": w.to}})
				}
			}},
			{name: "ErrForbiddenAuditAgentKey", method: "GET", path: "/api/v1/admin/audit", key: author.Key, want: http.StatusForbidden},
			{name: "Stats", method: "GET", path: "/api/v1/stats", want: http.StatusOK, check: func(t *testing.T, r response) {
				// pB, pD and the two bounds proposals.
				wantFields(t, r.JSON, map[string]any{"proposals": map[string]any{"open": 4.0}})
			}},
		}
		a.table(t, nil, cases)
	})
}

// TestStatusProposalLimit: an agent has at most 10 open proposals; a decision frees a place.
func TestStatusProposalLimit(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		busy, _ := a.activated(t, "busy-author", 2*usdc)
		other, _ := a.activated(t, "other-author", 2*usdc)
		var ids []string
		for i := range 10 {
			ids = append(ids, a.createProposal(t, busy, map[string]any{"title": fmt.Sprintf("Idea number %d", i)}))
		}
		body := proposalBody(map[string]any{"title": "Idea number eleven"})
		a.table(t, nil, []statusCase{
			{name: "ErrForbiddenTooManyOpen", method: "POST", path: "/api/v1/proposals", key: busy.Key, body: body, want: http.StatusForbidden,
				check: wantError("10 open proposals")},
			{name: "OthersAreNotLimited", method: "POST", path: "/api/v1/proposals", key: other.Key,
				body: proposalBody(map[string]any{"title": "Someone else's idea"}), want: http.StatusCreated},
			{name: "Decline", method: "POST", path: adminProposalPath(ids[0]), key: adminToken, body: map[string]any{"status": "declined"}, want: http.StatusOK},
			{name: "OKAfterADecision", method: "POST", path: "/api/v1/proposals", key: busy.Key, body: body, want: http.StatusCreated},
			{name: "ErrForbiddenFullAgain", method: "POST", path: "/api/v1/proposals", key: busy.Key,
				body: proposalBody(map[string]any{"title": "Idea number twelve"}), want: http.StatusForbidden},
			{name: "ErrConflictDeclinedTitleStaysTaken", method: "POST", path: "/api/v1/proposals", key: other.Key,
				body: proposalBody(map[string]any{"title": "IDEA NUMBER 0"}), want: http.StatusConflict},
		})
	})
}

// TestRateLimitPublicProposals: the proposal list is one of the spec's "IP rate limited: 30/min"
// public routes, with or without an API key; one proposal is not.
func TestRateLimitPublicProposals(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{PublicPerIP: 3})
		ag, _ := a.activated(t, "limited-reader", 2*usdc)
		voter, _ := a.activated(t, "limited-voter", 2*usdc)
		id := a.createProposal(t, ag, nil)
		a.must(t, http.StatusOK, "GET", "/api/v1/proposals", "", nil)
		a.must(t, http.StatusOK, "GET", "/api/v1/proposals?sort=recent", ag.Key, nil)
		a.must(t, http.StatusOK, "GET", "/api/v1/proposals?status=open", "", nil)
		for _, key := range []string{"", ag.Key} {
			status, body, h := a.do(t, "GET", "/api/v1/proposals", key, nil)
			if status != http.StatusTooManyRequests {
				t.Fatalf("4th GET /proposals = %d %v, want 429", status, body)
			}
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("Retry-After = %q, want whole seconds >= 1", h.Get("Retry-After"))
			}
		}
		for range 5 {
			a.must(t, http.StatusOK, "GET", proposalPath(id), "", nil)
		}
		a.must(t, http.StatusOK, "POST", proposalPath(id, "vote"), voter.Key, nil)
		a.Clock.Advance(time.Minute)
		a.must(t, http.StatusOK, "GET", "/api/v1/proposals", "", nil)
	})
}

// TestStatusStatsCountsEverything: every field of GET /api/v1/stats is counted from what
// happened: agents, services, jobs, proposals, and the volume paid to providers by jobs and
// campaign tasks.
func TestStatusStatsCountsEverything(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		provider, _ := a.activated(t, "stats-provider", 2*usdc)
		client, _ := a.activated(t, "stats-client", 5*usdc)
		a.register(t, "stats-idle")
		svc := a.createService(t, provider, nil)
		gone := a.createService(t, provider, map[string]any{"name": "Gone Summaries"})
		a.must(t, http.StatusOK, "DELETE", "/api/v1/services/"+gone, provider.Key, nil)
		output := map[string]any{"output": map[string]any{"bullets": []string{"one"}}}

		done := str(a.createJob(t, client, directJob(svc))["id"])
		a.must(t, http.StatusOK, "POST", jobPath(done, "deliver"), provider.Key, output)
		a.must(t, http.StatusOK, "POST", jobPath(done, "accept-delivery"), client.Key, nil)
		cancelled := str(a.createJob(t, client, directJob(svc))["id"])
		a.must(t, http.StatusOK, "POST", jobPath(cancelled, "cancel"), client.Key, nil)
		a.createJob(t, client, directJob(svc)) // running
		campaign := a.createCampaign(t, client, minimalCampaign(nil))
		task := a.claim(t, provider, campaign)
		a.must(t, http.StatusOK, "POST", taskPath(campaign, task, "deliver"), provider.Key, map[string]any{"output": map[string]any{"ok": true}})
		a.createProposal(t, provider, nil)
		a.createProposal(t, client, map[string]any{"title": "Another idea"})
		declined := a.createProposal(t, client, map[string]any{"title": "A declined idea"})
		a.must(t, http.StatusOK, "POST", adminProposalPath(declined), adminToken, map[string]any{"status": "declined"})

		got := a.must(t, http.StatusOK, "GET", "/api/v1/stats", "", nil)
		wantFields(t, got, map[string]any{
			"agents":    map[string]any{"total": 3.0, "activated": 2.0},
			"services":  map[string]any{"active": 1.0},
			"jobs":      map[string]any{"total": 3.0, "completed": 1.0},
			"proposals": map[string]any{"open": 2.0},
			"volume":    map[string]any{"total": "501000"}, // the job's 500000 and the task's 1000
		})
		sqlstoretest.MustVerify(t, a.DB)
	})
}
