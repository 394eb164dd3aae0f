package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/httpapi"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// The status matrix of reports and their admin review, on SQLite and (with
// JUSTPAY_TEST_POSTGRES) PostgreSQL: the target's pendingReportCount, warning badge and trust
// score on its public profile and in job details, the audit log, and the 30-day expiry driven
// through POST /dev/clock/advance.

// reportFields are the fields of the report JSON, sorted.
var reportFields = []string{"createdAt", "description", "expiresAt", "id", "note", "reason", "reporterAgentId", "resolvedAt",
	"status", "targetAgentId", "targetId", "targetType"}

// wantReport checks the shape of a report and the given fields.
func wantReport(want map[string]any) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if got := sortedKeys(r.JSON); !slices.Equal(got, reportFields) {
			t.Errorf("report fields = %v, want %v", got, reportFields)
		}
		if id := str(r.JSON["id"]); !justpay.IsID(id) {
			t.Errorf("report id %q is not an ID", id)
		}
		wantFields(t, r.JSON, want)
	}
}

// reportBody is the body of a report of targetType targetID for spam.
func reportBody(targetType, targetID string) map[string]any {
	return map[string]any{"targetType": targetType, "targetId": targetID, "reason": "spam"}
}

// fileReport reports targetType targetID as ag and returns the report's ID.
func (a *api) fileReport(tb testing.TB, ag agent, targetType, targetID string) string {
	tb.Helper()
	return str(a.must(tb, http.StatusCreated, "POST", "/api/v1/reports", ag.Key, reportBody(targetType, targetID))["id"])
}

// reputationIs is a case checking an agent's report fields and trust score on its public profile.
func reputationIs(name, agentID string, pending int, warning any, score float64) statusCase {
	return profileIs(name, agentID, map[string]any{"pendingReportCount": float64(pending), "warning": warning, "trustScore": score})
}

// jobWarningsAre is a case checking the warnings of a job's details as ag sees them.
func jobWarningsAre(name string, ag agent, jobID string, client, provider any) statusCase {
	return statusCase{name: name, method: "GET", path: jobPath(jobID), key: ag.Key, want: http.StatusOK,
		check: func(t *testing.T, r response) {
			t.Helper()
			wantFields(t, r.JSON, map[string]any{"warnings": map[string]any{"client": client, "provider": provider}})
		}}
}

func TestStatusSubmitReport(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		reporter, _ := a.activated(t, "report-reporter", 2*usdc)
		seller, _ := a.activated(t, "report-seller", 2*usdc)
		client, _ := a.activated(t, "report-client", 5*usdc)
		stranger, _ := a.activated(t, "report-stranger", 2*usdc)
		idle := a.register(t, "report-idle")
		svc := a.createService(t, seller, nil)
		job := str(a.createJob(t, client, directJob(svc))["id"])
		open := str(a.createJob(t, client, openJob(100_000, nil))["id"])
		now := a.Clock.Now()

		const path = "/api/v1/reports"
		submit := func(name string, ag agent, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: "POST", path: path, key: ag.Key, body: body, want: want, check: check}
		}
		with := func(k string, v any) map[string]any {
			body := reportBody("agent", stranger.ID)
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
			return body
		}
		cases := []statusCase{
			reputationIs("ProfileBefore", seller.ID, 0, nil, 0.65),
			jobWarningsAre("JobWarningsBefore", client, job, nil, nil),
			submit("OKAgent", reporter, map[string]any{"targetType": "agent", "targetId": seller.ID, "reason": "spam",
				"description": "This agent is sending unsolicited messages"}, http.StatusCreated, wantReport(map[string]any{
				"reporterAgentId": reporter.ID, "targetType": "agent", "targetId": seller.ID, "targetAgentId": seller.ID, "reason": "spam",
				"description": "This agent is sending unsolicited messages", "status": "pending", "note": nil, "createdAt": at(now, 0),
				"expiresAt": at(now, 30*24*time.Hour), "resolvedAt": nil,
			})),
			reputationIs("ProfileOneReport", seller.ID, 1, "low", 0.63),
			submit("OKService", reporter, reportBody("service", svc), http.StatusCreated, wantReport(map[string]any{
				"targetType": "service", "targetId": svc, "targetAgentId": seller.ID, "description": nil})),
			submit("OKJobByClient", client, map[string]any{"targetType": "job", "targetId": job, "reason": "fraud"}, http.StatusCreated,
				wantReport(map[string]any{"targetType": "job", "targetId": job, "targetAgentId": seller.ID, "reason": "fraud"})),
			submit("OKJobByProvider", seller, map[string]any{"targetType": "job", "targetId": job, "reason": "abuse"}, http.StatusCreated,
				wantReport(map[string]any{"targetAgentId": client.ID, "reason": "abuse"})),
			submit("OKReasonIllegal", reporter, with("reason", "illegal"), http.StatusCreated, wantReport(map[string]any{"reason": "illegal"})),
			submit("OKReasonOther", client, with("reason", "other"), http.StatusCreated, nil),
			submit("OKDescriptionAtLimit", seller, with("description", strings.Repeat("é", 1000)), http.StatusCreated, nil),
			reputationIs("ProfileThreeReports", seller.ID, 3, "medium", 0.59),
			reputationIs("ProfileClient", client.ID, 1, "low", 0.63),
			reputationIs("ProfileStranger", stranger.ID, 3, "medium", 0.59),
			reputationIs("ProfileReporterUntouched", reporter.ID, 0, nil, 0.65),
			jobWarningsAre("JobWarningsClientSees", client, job, "low", "medium"),
			jobWarningsAre("JobWarningsProviderSees", seller, job, "low", "medium"),

			submit("ErrInvalidTargetTypeMissing", reporter, with("targetType", nil), http.StatusBadRequest, wantError("targetType", "agent, service, job")),
			submit("ErrInvalidTargetTypeUnknown", reporter, with("targetType", "campaign"), http.StatusBadRequest, wantError("targetType")),
			submit("ErrInvalidTargetTypeWrongCase", reporter, with("targetType", "Agent"), http.StatusBadRequest, wantError("targetType")),
			submit("ErrInvalidTargetIDMissing", reporter, with("targetId", nil), http.StatusBadRequest, wantError("targetId")),
			submit("ErrInvalidTargetIDNumber", reporter, with("targetId", 42), http.StatusBadRequest, wantError("targetId")),
			submit("ErrInvalidReasonMissing", reporter, with("reason", nil), http.StatusBadRequest, wantError("reason", "spam, fraud, illegal, abuse, other")),
			submit("ErrInvalidReasonUnknown", reporter, with("reason", "rude"), http.StatusBadRequest, wantError("reason")),
			submit("ErrInvalidReasonWrongCase", reporter, with("reason", "Spam"), http.StatusBadRequest, wantError("reason")),
			submit("ErrInvalidDescriptionTooLong", reporter, with("description", strings.Repeat("d", 1001)), http.StatusBadRequest, wantError("description", "1000")),
			submit("ErrInvalidDescriptionNUL", reporter, with("description", "a\u0000b"), http.StatusBadRequest, wantError("description")),
			submit("ErrInvalidDescriptionWrongType", reporter, with("description", []any{}), http.StatusBadRequest, wantError("description")),
			submit("ErrInvalidUnknownField", reporter, with("severity", "high"), http.StatusBadRequest, wantError("unknown field")),
			submit("ErrInvalidEmptyBody", reporter, ``, http.StatusBadRequest, nil),
			submit("ErrInvalidNotAnObject", reporter, `[]`, http.StatusBadRequest, nil),
			submit("ErrForbiddenSelf", seller, reportBody("agent", seller.ID), http.StatusForbidden, wantError("yourself")),
			submit("ErrForbiddenOwnService", seller, reportBody("service", svc), http.StatusForbidden, wantError("own service")),
			submit("ErrNotFoundAgent", reporter, reportBody("agent", unknownID), http.StatusNotFound, wantError("agent")),
			submit("ErrNotFoundService", reporter, reportBody("service", unknownID), http.StatusNotFound, wantError("service")),
			submit("ErrNotFoundJob", reporter, reportBody("job", unknownID), http.StatusNotFound, wantError("job")),
			submit("ErrNotFoundMalformedID", reporter, reportBody("agent", "nope"), http.StatusNotFound, wantError("agent")),
			submit("ErrNotFoundServiceIDOfAnAgent", reporter, reportBody("service", seller.ID), http.StatusNotFound, wantError("service")),
			submit("ErrNotFoundJobNotAParty", stranger, reportBody("job", job), http.StatusNotFound, wantError("job")),
			submit("ErrConflictDuplicateAgent", reporter, reportBody("agent", seller.ID), http.StatusConflict, wantError("already", "pending")),
			submit("ErrConflictDuplicateService", reporter, reportBody("service", svc), http.StatusConflict, wantError("already")),
			submit("ErrConflictDuplicateJob", client, reportBody("job", job), http.StatusConflict, wantError("already")),
			submit("ErrConflictOpenJobNoProvider", client, reportBody("job", open), http.StatusConflict, wantError("no provider")),
			{name: "ErrUnauthorized", method: "POST", path: path, body: reportBody("agent", seller.ID), want: http.StatusUnauthorized},
			{name: "ErrUnauthorizedBadKey", method: "POST", path: path, key: "jp_nope", body: reportBody("agent", seller.ID), want: http.StatusUnauthorized},
			submit("ErrForbiddenNotActivated", idle, reportBody("agent", seller.ID), http.StatusForbidden, wantError("activat")),
			{name: "ErrMethodNotAllowed", method: "GET", path: path, key: reporter.Key, want: http.StatusMethodNotAllowed},
			reputationIs("RejectionsCountedNothing", seller.ID, 3, "medium", 0.59),
		}
		a.table(t, &seller, cases)
	})
}

func TestStatusAdminReports(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		a := newAPI(t, b, httpapi.RateLimits{})
		target, _ := a.activated(t, "report-target", 2*usdc)
		client, _ := a.activated(t, "report-hirer", 5*usdc)
		svc := a.createService(t, target, nil)
		job := str(a.createJob(t, client, directJob(svc))["id"])
		var ids []string
		for i := range 5 {
			reporter, _ := a.activated(t, fmt.Sprintf("report-r%d", i), 2*usdc)
			ids = append(ids, a.fileReport(t, reporter, "agent", target.ID))
			a.Clock.Advance(time.Second)
		}
		start := a.Clock.Now()

		const list = "/api/v1/admin/reports"
		closePath := func(id, action string) string { return "/api/v1/admin/reports/" + id + "/" + action }
		admin := func(name, method, path string, body any, want int, check func(*testing.T, response)) statusCase {
			return statusCase{name: name, method: method, path: path, key: adminToken, body: body, want: want, check: check}
		}
		listed := func(total int, first string) func(t *testing.T, r response) {
			return func(t *testing.T, r response) {
				t.Helper()
				reports, _ := r.JSON["reports"].([]any)
				p, _ := r.JSON["pagination"].(map[string]any)
				if p["total"] != float64(total) || (first != "" && (len(reports) == 0 || reports[0].(map[string]any)["id"] != first)) {
					t.Errorf("listed %d reports of %v, first %v; want %d, first %s", len(reports), p["total"], reports, total, first)
				}
			}
		}
		cases := []statusCase{
			reputationIs("ProfileFiveReports", target.ID, 5, "high", 0.55),
			jobWarningsAre("JobWarningsHigh", client, job, nil, "high"),
			admin("OKListAll", "GET", list, nil, http.StatusOK, listed(5, ids[0])),
			admin("OKListPending", "GET", list+"?status=pending&page=1&limit=2", nil, http.StatusOK, func(t *testing.T, r response) {
				t.Helper()
				listed(5, ids[0])(t, r)
				wantFields(t, r.JSON, map[string]any{"pagination": map[string]any{"page": 1.0, "limit": 2.0, "total": 5.0, "totalPages": 3.0}})
				wantReport(map[string]any{"status": "pending", "targetAgentId": target.ID})(t, response{JSON: r.JSON["reports"].([]any)[1].(map[string]any)})
			}),
			admin("OKListDismissedNone", "GET", list+"?status=dismissed", nil, http.StatusOK, listed(0, "")),
			admin("ErrInvalidListStatus", "GET", list+"?status=open", nil, http.StatusBadRequest, wantError("status", "pending, dismissed, actioned, expired")),
			admin("ErrInvalidListLimit", "GET", list+"?limit=101", nil, http.StatusBadRequest, wantError("limit")),
			{name: "ErrForbiddenListAgentKey", method: "GET", path: list, key: target.Key, want: http.StatusForbidden, check: wantError("admin")},
			{name: "ErrUnauthorizedListNoToken", method: "GET", path: list, want: http.StatusUnauthorized, check: wantError("admin token")},

			admin("OKDismiss", "POST", closePath(ids[0], "dismiss"), map[string]any{"note": "a newsletter they subscribed to"}, http.StatusOK,
				wantReport(map[string]any{"id": ids[0], "status": "dismissed", "note": "a newsletter they subscribed to", "expiresAt": nil,
					"resolvedAt": at(start, 0)})),
			reputationIs("ProfileAfterDismiss", target.ID, 4, "medium", 0.57),
			admin("OKActionNoBody", "POST", closePath(ids[1], "action"), nil, http.StatusOK,
				wantReport(map[string]any{"id": ids[1], "status": "actioned", "note": nil, "resolvedAt": at(start, 0)})),
			admin("OKDismissEmptyObject", "POST", closePath(ids[2], "dismiss"), `{}`, http.StatusOK, wantReport(map[string]any{"status": "dismissed"})),
			reputationIs("ProfileAfterThree", target.ID, 2, "low", 0.61),
			jobWarningsAre("JobWarningsLow", client, job, nil, "low"),
			admin("ErrConflictDismissDismissed", "POST", closePath(ids[0], "dismiss"), nil, http.StatusConflict, wantError("dismissed")),
			admin("ErrConflictActionDismissed", "POST", closePath(ids[0], "action"), nil, http.StatusConflict, wantError("dismissed")),
			admin("ErrConflictDismissActioned", "POST", closePath(ids[1], "dismiss"), nil, http.StatusConflict, wantError("actioned")),
			admin("ErrNotFound", "POST", closePath(unknownID, "dismiss"), nil, http.StatusNotFound, wantError("report")),
			admin("ErrNotFoundMalformed", "POST", closePath("nope", "action"), nil, http.StatusNotFound, wantError("report")),
			admin("ErrInvalidNoteTooLong", "POST", closePath(ids[3], "dismiss"), map[string]any{"note": strings.Repeat("n", 1001)},
				http.StatusBadRequest, wantError("note")),
			admin("ErrInvalidNoteNumber", "POST", closePath(ids[3], "dismiss"), `{"note":1}`, http.StatusBadRequest, wantError("note")),
			admin("ErrInvalidUnknownField", "POST", closePath(ids[3], "action"), `{"outcome":"split"}`, http.StatusBadRequest, wantError("unknown field")),
			{name: "ErrForbiddenAgentKey", method: "POST", path: closePath(ids[3], "dismiss"), key: target.Key, want: http.StatusForbidden, check: wantError("admin")},
			{name: "ErrForbiddenActionAgentKey", method: "POST", path: closePath(ids[3], "action"), key: client.Key, want: http.StatusForbidden},
			{name: "ErrUnauthorizedNoToken", method: "POST", path: closePath(ids[3], "dismiss"), want: http.StatusUnauthorized},
			reputationIs("RejectionsChangedNothing", target.ID, 2, "low", 0.61),
			admin("OKListAfter", "GET", list+"?status=pending", nil, http.StatusOK, listed(2, ids[3])),
			admin("Audit", "GET", "/api/v1/admin/audit", nil, http.StatusOK, func(t *testing.T, r response) {
				t.Helper()
				records, _ := r.JSON["records"].([]any)
				var got []string
				for _, rec := range records {
					m := rec.(map[string]any)
					if !slices.Equal(sortedKeys(m), auditFields) {
						t.Errorf("audit fields = %v, want %v", sortedKeys(m), auditFields)
					}
					details, _ := m["details"].(map[string]any)
					if m["targetType"] != "report" || details["targetAgentId"] != target.ID {
						t.Errorf("audit record %v", m)
					}
					got = append(got, str(m["action"])+" "+str(m["targetId"])+" "+str(details["note"]))
				}
				slices.Sort(got)
				want := []string{"report.action " + ids[1] + " ", "report.dismiss " + ids[0] + " a newsletter they subscribed to",
					"report.dismiss " + ids[2] + " "}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("audit = %q, want %q", got, want)
				}
			}),

			// Expiry, 30 days after the newest pending report, through the dev clock and the scheduler.
			// The job expires undelivered on the way, which takes the target's success rate to 0:
			// 0.25*0 + 0.25*0.5 + 0.15 + 0.15 + 0.1*(1 - pending/5).
			advance("Advance29Days", 29*24*time.Hour),
			reputationIs("StillPendingAfter29Days", target.ID, 2, "low", 0.485),
			advance("Advance30Days", 24*time.Hour),
			reputationIs("ExpiredAfter30Days", target.ID, 0, nil, 0.525),
			jobWarningsAre("JobWarningsGone", client, job, nil, nil),
			admin("OKListExpired", "GET", list+"?status=expired", nil, http.StatusOK, listed(2, ids[3])),
			admin("ErrConflictDismissExpired", "POST", closePath(ids[4], "dismiss"), nil, http.StatusConflict, wantError("expired")),
		}
		a.table(t, nil, cases)
	})
}
