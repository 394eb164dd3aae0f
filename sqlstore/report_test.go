package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// report files a report and fails the test on error.
func (e *jobEnv) report(tb testing.TB, reporterID, targetType, targetID string) *justpay.Report {
	tb.Helper()
	r, err := e.Store.SubmitReport(context.Background(), reporterID, justpay.NewReport{TargetType: targetType, TargetID: targetID,
		Reason: "spam", Description: "This agent is sending unsolicited messages"})
	if err != nil {
		tb.Fatalf("report %s %s: %v", targetType, targetID, err)
	}
	return r
}

// reportState is everything a report operation could change: every report row and the report
// counters of the given agents. A refused operation must leave it byte-identical.
func (e *jobEnv) reportState(tb testing.TB, agentIDs ...string) string {
	tb.Helper()
	var b strings.Builder
	rows, err := e.raw.Query(`SELECT id || ' ' || status || ' ' || note || ' ' || COALESCE(CAST(expires_at AS TEXT), '-') || ' '
		|| COALESCE(CAST(resolved_at AS TEXT), '-') FROM reports ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		b.WriteString(s + "\n")
	}
	rows.Close()
	for _, id := range agentIDs {
		var pending, since int64
		if err := e.raw.QueryRow(`SELECT pending_reports, jobs_since_report FROM agents WHERE id = $1`, id).Scan(&pending, &since); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "agent %s %d %d\n", id, pending, since)
	}
	var audit int
	if err := e.raw.QueryRow(`SELECT COUNT(*) FROM admin_audit`).Scan(&audit); err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(&b, "audit %d\n", audit)
	return b.String()
}

// wantReportErr checks a refused report operation's code and that it changed nothing.
func (e *jobEnv) wantReportErr(tb testing.TB, code string, op func() error, agentIDs ...string) {
	tb.Helper()
	before := e.reportState(tb, agentIDs...)
	jobWantCode(tb, op(), code)
	mustUnchanged(tb, before, e.reportState(tb, agentIDs...))
}

// mustReputation checks an agent's pending report count, jobs since its last report, warning
// badge and trust score, and that the count matches its pending report rows.
func (e *jobEnv) mustReputation(tb testing.TB, agentID string, pending, since int64, warning string, score float64) {
	tb.Helper()
	a := e.agent(tb, agentID)
	if a.PendingReports != pending || a.JobsSinceReport != since || a.Warning() != warning || a.TrustScore() != score {
		tb.Fatalf("agent %s: pending %d, jobs since report %d, warning %q, trust %v; want %d, %d, %q, %v",
			a.Name, a.PendingReports, a.JobsSinceReport, a.Warning(), a.TrustScore(), pending, since, warning, score)
	}
	var rows int64
	if err := e.raw.QueryRow(`SELECT COUNT(*) FROM reports WHERE target_agent_id = $1 AND status = 'pending'`, agentID).Scan(&rows); err != nil {
		tb.Fatal(err)
	}
	if rows != pending {
		tb.Fatalf("agent %s: pending_reports %d but %d pending report rows", a.Name, pending, rows)
	}
}

// mustReport reads a report back through the admin list and checks its status and note.
func (e *jobEnv) mustReport(tb testing.TB, id, status, note string) *justpay.Report {
	tb.Helper()
	reports, _, err := e.Store.FindReports(context.Background(), "", justpay.Page{Page: 1, Limit: justpay.MaxPageLimit})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range reports {
		if r.ID == id {
			if r.Status != status || r.Note != note || (status == justpay.ReportPending) != (r.ResolvedAt == nil) ||
				(status == justpay.ReportPending) != (r.ExpiresAt != nil) {
				tb.Fatalf("report %s: status %q note %q resolved %v expires %v; want %q %q", id, r.Status, r.Note, r.ResolvedAt, r.ExpiresAt, status, note)
			}
			return r
		}
	}
	tb.Fatalf("report %s not found", id)
	return nil
}

// mustDueReports runs the report expiry and checks how many reports expired.
func (e *jobEnv) mustDueReports(tb testing.TB, want int) {
	tb.Helper()
	n, err := e.Store.RunDueReports(context.Background())
	if err != nil || n != want {
		tb.Fatalf("RunDueReports = %d, %v; want %d", n, err, want)
	}
}

func TestSubmitReport(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		reporter := env.mustAgent(t, "reporter", 2*usdc)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 5*usdc)
		outsider := env.mustAgent(t, "outsider", 2*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		job := env.mustJob(t, client.ID, directJob(svc.ID))
		open := env.mustJob(t, client.ID, openJob(100_000))
		now := env.Clock.Now().UTC().Truncate(time.Microsecond)
		all := []string{reporter.ID, seller.ID, client.ID, outsider.ID}
		submit := func(reporterID string, nr justpay.NewReport) func() error {
			return func() error { _, err := env.Store.SubmitReport(ctx, reporterID, nr); return err }
		}
		nr := func(targetType, targetID string) justpay.NewReport {
			return justpay.NewReport{TargetType: targetType, TargetID: targetID, Reason: "fraud"}
		}

		t.Run("OKAgent", func(t *testing.T) {
			env.mustReputation(t, seller.ID, 0, 0, justpay.WarningNone, 0.65)
			r, err := env.Store.SubmitReport(ctx, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: seller.ID, Reason: "spam",
				Description: "This agent is sending unsolicited messages"})
			if err != nil {
				t.Fatal(err)
			}
			if !justpay.IsID(r.ID) || r.ReporterID != reporter.ID || r.TargetType != "agent" || r.TargetID != seller.ID || r.TargetAgentID != seller.ID ||
				r.Reason != "spam" || r.Description != "This agent is sending unsolicited messages" || r.Status != justpay.ReportPending ||
				r.Note != "" || !r.CreatedAt.Equal(now) || r.ResolvedAt != nil || !timeEqual(r.ExpiresAt, now.Add(30*24*time.Hour)) {
				t.Fatalf("report = %+v", r)
			}
			// 10% of the score is the report penalty: one report takes a fifth of it.
			env.mustReputation(t, seller.ID, 1, 0, justpay.WarningLow, 0.63)
			env.mustReputation(t, reporter.ID, 0, 0, justpay.WarningNone, 0.65)
			got := env.mustReport(t, r.ID, justpay.ReportPending, "")
			if got.TargetAgentID != r.TargetAgentID || got.Description != r.Description || !got.CreatedAt.Equal(r.CreatedAt) ||
				!timeEqual(got.ExpiresAt, *r.ExpiresAt) {
				t.Fatalf("stored %+v, returned %+v", got, r)
			}
		})
		t.Run("OKService", func(t *testing.T) {
			// A service's report counts against its owner.
			r := env.report(t, reporter.ID, "service", svc.ID)
			if r.TargetAgentID != seller.ID || r.TargetID != svc.ID {
				t.Fatalf("report = %+v", r)
			}
			env.mustReputation(t, seller.ID, 2, 0, justpay.WarningLow, 0.61)
		})
		t.Run("OKJobByClient", func(t *testing.T) {
			// A job's report counts against the other party.
			if r := env.report(t, client.ID, "job", job.ID); r.TargetAgentID != seller.ID {
				t.Fatalf("report = %+v", r)
			}
			env.mustReputation(t, seller.ID, 3, 0, justpay.WarningMedium, 0.59)
		})
		t.Run("OKJobByProvider", func(t *testing.T) {
			if r := env.report(t, seller.ID, "job", job.ID); r.TargetAgentID != client.ID {
				t.Fatalf("report = %+v", r)
			}
			env.mustReputation(t, client.ID, 1, 0, justpay.WarningLow, 0.63)
		})
		t.Run("OKOtherReporterSameTarget", func(t *testing.T) {
			env.report(t, outsider.ID, "agent", seller.ID)
			env.mustReputation(t, seller.ID, 4, 0, justpay.WarningMedium, 0.57)
		})
		t.Run("OKDescriptionAtLimit", func(t *testing.T) {
			// 1000 characters, not bytes.
			_, err := env.Store.SubmitReport(ctx, outsider.ID, justpay.NewReport{TargetType: "service", TargetID: svc.ID, Reason: "other",
				Description: strings.Repeat("é", 1000)})
			if err != nil {
				t.Fatal(err)
			}
			env.mustReputation(t, seller.ID, 5, 0, justpay.WarningHigh, 0.55)
		})

		for _, tc := range []struct {
			name, code, reporter string
			nr                   justpay.NewReport
		}{
			{"ErrConflictDuplicateAgent", justpay.ECONFLICT, reporter.ID, nr("agent", seller.ID)},
			{"ErrConflictDuplicateService", justpay.ECONFLICT, reporter.ID, nr("service", svc.ID)},
			{"ErrConflictDuplicateJob", justpay.ECONFLICT, client.ID, nr("job", job.ID)},
			{"ErrConflictOpenJobNoProvider", justpay.ECONFLICT, client.ID, nr("job", open.ID)},
			{"ErrForbiddenSelf", justpay.EFORBIDDEN, seller.ID, nr("agent", seller.ID)},
			{"ErrForbiddenOwnService", justpay.EFORBIDDEN, seller.ID, nr("service", svc.ID)},
			{"ErrNotFoundAgent", justpay.ENOTFOUND, reporter.ID, nr("agent", justpay.NewID(now))},
			{"ErrNotFoundService", justpay.ENOTFOUND, reporter.ID, nr("service", justpay.NewID(now))},
			{"ErrNotFoundJob", justpay.ENOTFOUND, reporter.ID, nr("job", justpay.NewID(now))},
			{"ErrNotFoundAgentIDAsService", justpay.ENOTFOUND, reporter.ID, nr("service", seller.ID)},
			{"ErrNotFoundMalformedID", justpay.ENOTFOUND, reporter.ID, nr("agent", "nope")},
			{"ErrNotFoundJobNotAParty", justpay.ENOTFOUND, outsider.ID, nr("job", job.ID)},
			{"ErrNotFoundOpenJobNotAParty", justpay.ENOTFOUND, outsider.ID, nr("job", open.ID)},
			{"ErrInvalidTargetType", justpay.EINVALID, reporter.ID, nr("campaign", seller.ID)},
			{"ErrInvalidTargetTypeEmpty", justpay.EINVALID, reporter.ID, nr("", seller.ID)},
			{"ErrInvalidTargetTypeCase", justpay.EINVALID, reporter.ID, nr("Agent", seller.ID)},
			{"ErrInvalidTargetIDEmpty", justpay.EINVALID, reporter.ID, nr("agent", "")},
			{"ErrInvalidReason", justpay.EINVALID, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: client.ID, Reason: "rude"}},
			{"ErrInvalidReasonEmpty", justpay.EINVALID, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: client.ID}},
			{"ErrInvalidDescriptionTooLong", justpay.EINVALID, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: client.ID,
				Reason: "spam", Description: strings.Repeat("d", 1001)}},
			{"ErrInvalidDescriptionNUL", justpay.EINVALID, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: client.ID,
				Reason: "spam", Description: "a\x00b"}},
			{"ErrInvalidDescriptionUTF8", justpay.EINVALID, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: client.ID,
				Reason: "spam", Description: "a\xffb"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				env.wantReportErr(t, tc.code, submit(tc.reporter, tc.nr), all...)
			})
		}

		t.Run("OKAgainAfterDismissal", func(t *testing.T) {
			reports, _, err := env.Store.FindReports(ctx, justpay.ReportPending, justpay.Page{Page: 1, Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			var first *justpay.Report
			for _, r := range reports {
				if r.ReporterID == reporter.ID && r.TargetType == "agent" {
					first = r
				}
			}
			if first == nil {
				t.Fatalf("reporter's report not among the pending ones: %v", reports)
			}
			if _, err := env.Store.DismissReport(ctx, first.ID, ""); err != nil {
				t.Fatal(err)
			}
			env.mustReputation(t, seller.ID, 4, 0, justpay.WarningMedium, 0.57)
			env.report(t, reporter.ID, "agent", seller.ID)
			env.mustReputation(t, seller.ID, 5, 0, justpay.WarningHigh, 0.55)
		})
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// The warning badge and the report penalty by the number of pending reports: low 1-2, medium
// 3-4, high 5+; the penalty's 10% falls by a fifth a report and is gone at 5.
func TestReportWarningLevels(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := newJobEnv(t, b)
		target := env.mustAgent(t, "target", 2*usdc)
		env.mustReputation(t, target.ID, 0, 0, justpay.WarningNone, 0.65)
		for i, want := range []struct {
			warning string
			score   float64
		}{
			{justpay.WarningLow, 0.63}, {justpay.WarningLow, 0.61}, {justpay.WarningMedium, 0.59}, {justpay.WarningMedium, 0.57},
			{justpay.WarningHigh, 0.55}, {justpay.WarningHigh, 0.55}, {justpay.WarningHigh, 0.55},
		} {
			reporter := env.mustAgent(t, fmt.Sprintf("reporter-%d", i), 2*usdc)
			env.report(t, reporter.ID, "agent", target.ID)
			env.mustReputation(t, target.ID, int64(i+1), 0, want.warning, want.score)
		}
	})
}

func TestResolveReport(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		target := env.mustAgent(t, "target", 2*usdc)
		var reports []*justpay.Report
		for i := range 4 {
			reporter := env.mustAgent(t, fmt.Sprintf("reporter-%d", i), 2*usdc)
			reports = append(reports, env.report(t, reporter.ID, "agent", target.ID))
			env.Clock.Advance(time.Second)
		}
		env.mustReputation(t, target.ID, 4, 0, justpay.WarningMedium, 0.57)
		now := env.Clock.Now().UTC().Truncate(time.Microsecond)

		t.Run("OKDismiss", func(t *testing.T) {
			r, err := env.Store.DismissReport(ctx, reports[0].ID, "not spam: a newsletter they subscribed to")
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != justpay.ReportDismissed || r.Note != "not spam: a newsletter they subscribed to" || !timeEqual(r.ResolvedAt, now) || r.ExpiresAt != nil {
				t.Fatalf("dismissed = %+v", r)
			}
			env.mustReport(t, r.ID, justpay.ReportDismissed, "not spam: a newsletter they subscribed to")
			env.mustReputation(t, target.ID, 3, 0, justpay.WarningMedium, 0.59)
			env.Clock.Advance(time.Second) // the audit log's order
		})
		t.Run("OKAction", func(t *testing.T) {
			r, err := env.Store.ActionReport(ctx, reports[1].ID, "")
			if err != nil || r.Status != justpay.ReportActioned || r.Note != "" || r.ResolvedAt == nil {
				t.Fatalf("actioned = %+v, %v", r, err)
			}
			env.mustReputation(t, target.ID, 2, 0, justpay.WarningLow, 0.61)
			env.Clock.Advance(time.Second)
		})
		t.Run("OKDismissNewestRestartsExpiryFromTheNextNewest", func(t *testing.T) {
			if _, err := env.Store.DismissReport(ctx, reports[3].ID, ""); err != nil {
				t.Fatal(err)
			}
			r := env.mustReport(t, reports[2].ID, justpay.ReportPending, "")
			if !timeEqual(r.ExpiresAt, reports[2].CreatedAt.Add(justpay.ReportExpiry)) {
				t.Fatalf("expiry %v, want 30 days after %v", r.ExpiresAt, reports[2].CreatedAt)
			}
			env.mustReputation(t, target.ID, 1, 0, justpay.WarningLow, 0.63)
		})
		for _, tc := range []struct {
			name, code string
			op         func() error
		}{
			{"ErrConflictDismissDismissed", justpay.ECONFLICT, func() error { _, err := env.Store.DismissReport(ctx, reports[0].ID, ""); return err }},
			{"ErrConflictActionDismissed", justpay.ECONFLICT, func() error { _, err := env.Store.ActionReport(ctx, reports[0].ID, ""); return err }},
			{"ErrConflictDismissActioned", justpay.ECONFLICT, func() error { _, err := env.Store.DismissReport(ctx, reports[1].ID, ""); return err }},
			{"ErrNotFound", justpay.ENOTFOUND, func() error { _, err := env.Store.DismissReport(ctx, justpay.NewID(now), ""); return err }},
			{"ErrNotFoundMalformed", justpay.ENOTFOUND, func() error { _, err := env.Store.ActionReport(ctx, "nope", ""); return err }},
			{"ErrInvalidNoteTooLong", justpay.EINVALID, func() error {
				_, err := env.Store.DismissReport(ctx, reports[2].ID, strings.Repeat("n", 1001))
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) { env.wantReportErr(t, tc.code, tc.op, target.ID) })
		}

		t.Run("Audit", func(t *testing.T) {
			records, total, err := env.Store.FindAudit(ctx, justpay.Page{Page: 1, Limit: 10})
			if err != nil || total != 3 {
				t.Fatalf("audit: %d records, %v", total, err)
			}
			for i, want := range []struct{ action, id, note string }{
				{"report.dismiss", reports[3].ID, ""}, {"report.action", reports[1].ID, ""},
				{"report.dismiss", reports[0].ID, "not spam: a newsletter they subscribed to"},
			} {
				r := records[i]
				if r.Action != want.action || r.TargetType != "report" || r.TargetID != want.id || r.Details["note"] != want.note ||
					r.Details["targetAgentId"] != target.ID || r.Details["targetType"] != "agent" {
					t.Errorf("audit[%d] = %+v, want %s of %s", i, r, want.action, want.id)
				}
			}
		})
		t.Run("FindReports", func(t *testing.T) {
			for _, tc := range []struct {
				status string
				want   []*justpay.Report
			}{
				{"", reports}, {justpay.ReportPending, reports[2:3]}, {justpay.ReportDismissed, []*justpay.Report{reports[0], reports[3]}},
				{justpay.ReportActioned, reports[1:2]}, {justpay.ReportExpired, nil},
			} {
				got, total, err := env.Store.FindReports(ctx, tc.status, justpay.Page{Page: 1, Limit: 20})
				if err != nil || total != len(tc.want) || len(got) != len(tc.want) {
					t.Fatalf("status %q: %d of %d, %v; want %d", tc.status, len(got), total, err, len(tc.want))
				}
				for i := range got {
					if got[i].ID != tc.want[i].ID {
						t.Errorf("status %q: [%d] = %s, want %s (oldest first)", tc.status, i, got[i].ID, tc.want[i].ID)
					}
				}
			}
			got, total, err := env.Store.FindReports(ctx, "", justpay.Page{Page: 2, Limit: 3})
			if err != nil || total != 4 || len(got) != 1 || got[0].ID != reports[3].ID {
				t.Fatalf("page 2: %v of %d, %v", got, total, err)
			}
			for _, status := range []string{"open", "Pending", "resolved"} {
				if _, _, err := env.Store.FindReports(ctx, status, justpay.Page{Page: 1, Limit: 20}); justpay.ErrorCode(err) != justpay.EINVALID {
					t.Errorf("status %q: %v, want EINVALID", status, err)
				}
			}
			if _, _, err := env.Store.FindReports(ctx, "", justpay.Page{Page: 1, Limit: 101}); justpay.ErrorCode(err) != justpay.EINVALID {
				t.Errorf("limit 101: %v, want EINVALID", err)
			}
		})
	})
}

// Reports expire 30 days after the newest pending report against the same agent, driven by the
// injected clock: a new report restarts the 30 days for all of them.
func TestReportExpiry(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		env := newJobEnv(t, b)
		target := env.mustAgent(t, "target", 2*usdc)
		other := env.mustAgent(t, "other", 2*usdc)
		first := env.mustAgent(t, "first", 2*usdc)
		second := env.mustAgent(t, "second", 2*usdc)
		day := 24 * time.Hour

		r1 := env.report(t, first.ID, "agent", target.ID)
		o1 := env.report(t, first.ID, "agent", other.ID)
		env.Clock.Advance(29 * day)
		env.mustDueReports(t, 0)
		env.mustReport(t, r1.ID, justpay.ReportPending, "")
		env.mustReputation(t, target.ID, 1, 0, justpay.WarningLow, 0.63)

		// A new report on day 29 restarts the 30 days of both of target's reports, not other's.
		r2 := env.report(t, second.ID, "agent", target.ID)
		if got := env.mustReport(t, r1.ID, justpay.ReportPending, ""); !timeEqual(got.ExpiresAt, r2.CreatedAt.Add(30*day)) {
			t.Fatalf("first report expires %v, want %v", got.ExpiresAt, r2.CreatedAt.Add(30*day))
		}
		env.Clock.Advance(day)
		// Day 30: other's report expires; target's two are 30 and 1 days old.
		env.mustDueReports(t, 1)
		env.mustReport(t, o1.ID, justpay.ReportExpired, "")
		env.mustReputation(t, other.ID, 0, 0, justpay.WarningNone, 0.65)
		env.mustReport(t, r1.ID, justpay.ReportPending, "")
		env.mustReputation(t, target.ID, 2, 0, justpay.WarningLow, 0.61)

		env.Clock.Advance(29*day - time.Microsecond)
		env.mustDueReports(t, 0)
		env.mustReputation(t, target.ID, 2, 0, justpay.WarningLow, 0.61)

		// 30 days after the newest: both expire and the score recovers.
		env.Clock.Advance(time.Microsecond)
		env.mustDueReports(t, 2)
		for _, r := range []*justpay.Report{r1, r2} {
			got := env.mustReport(t, r.ID, justpay.ReportExpired, "")
			if !timeEqual(got.ResolvedAt, env.Clock.Now().UTC().Truncate(time.Microsecond)) {
				t.Errorf("expired report resolved at %v", got.ResolvedAt)
			}
		}
		env.mustReputation(t, target.ID, 0, 0, justpay.WarningNone, 0.65)
		env.mustDueReports(t, 0)

		// Expired reports are not pending: the same reporter may report again.
		env.report(t, first.ID, "agent", target.ID)
		env.mustReputation(t, target.ID, 1, 0, justpay.WarningLow, 0.63)
		env.Clock.Advance(30 * day)
		env.mustDueReports(t, 1)
		env.mustReputation(t, target.ID, 0, 0, justpay.WarningNone, 0.65)
	})
}

// An agent recovers from reports by completing jobs as provider: every 5 jobs since its newest
// report (or its last recovery) dismiss its oldest pending report.
func TestReportRecovery(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 20*usdc)
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		var reports []*justpay.Report
		for i := range 3 {
			reporter := env.mustAgent(t, fmt.Sprintf("reporter-%d", i), 2*usdc)
			reports = append(reports, env.report(t, reporter.ID, "agent", seller.ID))
			env.Clock.Advance(time.Second)
		}
		// The seller reports the client: jobs completed as a client do not recover the client.
		env.report(t, seller.ID, "agent", client.ID)
		// With jobs completed and no ratings: 0.25 + 0.125 + 0.15 + 0.15 + 0.1 * (1 - pending/5).
		for i := 1; i <= 4; i++ {
			env.mustCompleted(t, client.ID, svc)
			env.mustReputation(t, seller.ID, 3, int64(i), justpay.WarningMedium, 0.715)
		}
		env.mustCompleted(t, client.ID, svc)
		env.mustReport(t, reports[0].ID, justpay.ReportDismissed, justpay.ReportRecoveryNote)
		env.mustReputation(t, seller.ID, 2, 0, justpay.WarningLow, 0.735)
		// The remaining reports still expire 30 days after the newest of them.
		if got := env.mustReport(t, reports[1].ID, justpay.ReportPending, ""); !timeEqual(got.ExpiresAt, reports[2].CreatedAt.Add(justpay.ReportExpiry)) {
			t.Fatalf("expiry %v after recovery, want %v", got.ExpiresAt, reports[2].CreatedAt.Add(justpay.ReportExpiry))
		}
		env.mustReputation(t, client.ID, 1, 0, justpay.WarningLow, 0.63)

		// A new report restarts the count: 3 jobs, a report, then 5 more to dismiss the oldest.
		for range 3 {
			env.mustCompleted(t, client.ID, svc)
		}
		env.mustReputation(t, seller.ID, 2, 3, justpay.WarningLow, 0.735)
		late := env.mustAgent(t, "late-reporter", 2*usdc)
		r4 := env.report(t, late.ID, "service", svc.ID)
		env.mustReputation(t, seller.ID, 3, 0, justpay.WarningMedium, 0.715)
		for range 4 {
			env.mustCompleted(t, client.ID, svc)
		}
		env.mustReport(t, reports[1].ID, justpay.ReportPending, "")
		// The 5th, auto-accepted by the review timeout through the scheduler's path.
		j := env.mustDelivered(t, client.ID, svc)
		env.Clock.Advance(5 * time.Minute)
		env.mustDue(t, 1)
		env.mustSettled(t, j, justpay.JobCompleted)
		env.mustReport(t, reports[1].ID, justpay.ReportDismissed, justpay.ReportRecoveryNote)
		env.mustReputation(t, seller.ID, 2, 0, justpay.WarningLow, 0.735)

		// The 10th and 15th jobs since then dismiss the next oldest, then the last.
		for range 5 {
			env.mustCompleted(t, client.ID, svc)
		}
		env.mustReport(t, reports[2].ID, justpay.ReportDismissed, justpay.ReportRecoveryNote)
		env.mustReport(t, r4.ID, justpay.ReportPending, "")
		env.mustReputation(t, seller.ID, 1, 0, justpay.WarningLow, 0.755)
		for range 5 {
			env.mustCompleted(t, client.ID, svc)
		}
		env.mustReport(t, r4.ID, justpay.ReportDismissed, justpay.ReportRecoveryNote)
		env.mustReputation(t, seller.ID, 0, 0, justpay.WarningNone, 0.775)
		// With nothing pending, jobs only count.
		for i := 1; i <= 6; i++ {
			env.mustCompleted(t, client.ID, svc)
			env.mustReputation(t, seller.ID, 0, int64(i), justpay.WarningNone, 0.775)
		}
		// Recovery is automatic, not an admin action: no audit record.
		if _, total, err := env.Store.FindAudit(ctx, justpay.Page{Page: 1, Limit: 10}); err != nil || total != 0 {
			t.Fatalf("audit: %d records, %v", total, err)
		}
		env.mustReputation(t, client.ID, 1, 0, justpay.WarningLow, 0.63)
		sqlstoretest.MustVerify(t, env.DB)
	})
}

// Concurrent reports: one reporter's identical reports, fired at once, file exactly one; many
// reporters' reports all count; concurrent dismissals of one report close it once.
func TestReportRace(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		target := env.mustAgent(t, "target", 2*usdc)
		reporter := env.mustAgent(t, "reporter", 2*usdc)
		const n = 20
		race := func(op func(i int) error) (ok, conflicts int) {
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = op(i)
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				switch justpay.ErrorCode(err) {
				case "":
					ok++
				case justpay.ECONFLICT:
					conflicts++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
			return ok, conflicts
		}

		ok, conflicts := race(func(int) error {
			_, err := env.Store.SubmitReport(ctx, reporter.ID, justpay.NewReport{TargetType: "agent", TargetID: target.ID, Reason: "spam"})
			return err
		})
		if ok != 1 || conflicts != n-1 {
			t.Fatalf("identical reports: %d filed, %d conflicts; want 1 and %d", ok, conflicts, n-1)
		}
		env.mustReputation(t, target.ID, 1, 0, justpay.WarningLow, 0.63)

		reporters := make([]*justpay.Agent, n)
		for i := range reporters {
			reporters[i] = env.mustAgent(t, fmt.Sprintf("reporter-%d", i), 2*usdc)
		}
		if ok, _ := race(func(i int) error {
			_, err := env.Store.SubmitReport(ctx, reporters[i].ID, justpay.NewReport{TargetType: "agent", TargetID: target.ID, Reason: "abuse"})
			return err
		}); ok != n {
			t.Fatalf("%d of %d reporters' reports filed", ok, n)
		}
		env.mustReputation(t, target.ID, n+1, 0, justpay.WarningHigh, 0.55)

		pending, _, err := env.Store.FindReports(ctx, justpay.ReportPending, justpay.Page{Page: 1, Limit: 1})
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending: %v, %v", pending, err)
		}
		if ok, conflicts := race(func(i int) error {
			var err error
			if i%2 == 0 {
				_, err = env.Store.DismissReport(ctx, pending[0].ID, "")
			} else {
				_, err = env.Store.ActionReport(ctx, pending[0].ID, "")
			}
			return err
		}); ok != 1 || conflicts != n-1 {
			t.Fatalf("concurrent dismissals: %d closed, %d conflicts", ok, conflicts)
		}
		env.mustReputation(t, target.ID, n, 0, justpay.WarningHigh, 0.55)
		if _, total, err := env.Store.FindAudit(ctx, justpay.Page{Page: 1, Limit: 10}); err != nil || total != 1 {
			t.Fatalf("audit: %d records, %v", total, err)
		}

		// Agents reporting each other at once: each report locks its target and references its
		// reporter, so on PostgreSQL two of them can deadlock; the retry files both.
		if ok, _ := race(func(i int) error {
			from, to := reporters[i/2*2], reporters[i/2*2+1]
			if i%2 == 1 {
				from, to = to, from
			}
			_, err := env.Store.SubmitReport(ctx, from.ID, justpay.NewReport{TargetType: "agent", TargetID: to.ID, Reason: "other"})
			return err
		}); ok != n {
			t.Fatalf("%d of %d mutual reports filed", ok, n)
		}
		for _, r := range reporters {
			env.mustReputation(t, r.ID, 1, 0, justpay.WarningLow, 0.63)
		}
	})
}
