package justpay

import (
	"context"
	"time"
)

// Report target types and reasons, from the spec's Reports section.
var (
	ReportTargetTypes = []string{ReportTargetAgent, ReportTargetService, ReportTargetJob}
	ReportReasons     = []string{"spam", "fraud", "illegal", "abuse", "other"}
)

// What a report is about.
const (
	ReportTargetAgent   = "agent"
	ReportTargetService = "service"
	ReportTargetJob     = "job"
)

// Report statuses. A pending report counts against its target agent (its trust score and warning
// badge) until an admin dismisses or actions it, the agent recovers from it, or it expires.
const (
	ReportPending   = "pending"
	ReportDismissed = "dismissed"
	ReportActioned  = "actioned"
	ReportExpired   = "expired"
)

// ReportStatuses lists the statuses, for filters.
var ReportStatuses = []string{ReportPending, ReportDismissed, ReportActioned, ReportExpired}

// Report rules, from the spec's Reports section.
const (
	// ReportExpiry is how long an agent's pending reports stay pending after the newest of them
	// was filed: when no new report comes in that long, they all expire.
	ReportExpiry = 30 * 24 * time.Hour
	// ReportRecoveryJobs is how many jobs an agent completes as provider, since its newest report
	// or its last recovery, to have its oldest pending report dismissed automatically.
	ReportRecoveryJobs = 5
	// ReportRecoveryNote is the note of a report dismissed by recovery.
	ReportRecoveryNote = "recovered: 5 successful jobs"

	MaxReportDescription = 1000
	MaxReportNote        = 1000
)

// Report is an agent's complaint about an agent, a service or a job, and what became of it.
type Report struct {
	ID         string
	ReporterID string
	TargetType string
	TargetID   string
	// TargetAgentID is the agent the report counts against: the reported agent, the reported
	// service's owner, or the reported job's other party.
	TargetAgentID string
	Reason        string
	Description   string
	Status        string
	// Note is the admin's note on a dismissal or action, or the reason of an automatic one.
	Note string
	// ExpiresAt is when the report expires if no newer report against the same agent comes in:
	// the newest pending report's time plus ReportExpiry. Nil once the report is not pending.
	ExpiresAt  *time.Time
	CreatedAt  time.Time
	ResolvedAt *time.Time
}

// NewReport is the body of POST /api/v1/reports.
type NewReport struct {
	TargetType  string
	TargetID    string
	Reason      string
	Description string
}

// Validate checks a new report's fields. Errors: EINVALID; ENOTFOUND for a target ID that is
// not an ID at all.
func (nr NewReport) Validate() error {
	if err := ValidateOneOf("targetType", nr.TargetType, ReportTargetTypes); err != nil {
		return err
	}
	if nr.TargetID == "" {
		return Errorf(EINVALID, "targetId is required: the ID of the %s you report", nr.TargetType)
	}
	if err := ValidateOneOf("reason", nr.Reason, ReportReasons); err != nil {
		return err
	}
	if err := ValidateText("description", nr.Description, MaxReportDescription); err != nil {
		return err
	}
	if !IsID(nr.TargetID) {
		return Errorf(ENOTFOUND, "%s not found", nr.TargetType)
	}
	return nil
}

// ReportedAgent decides whom a report counts against, for a reporter reporting an agent (a), a
// service (svc) or a job (j); exactly one of them is set:
//
//   - an agent: anyone may report any other agent; the agent is the target;
//   - a service: anyone but its owner may report it; its owner is the target;
//   - a job: only its client and provider may report it (it is private to them: anyone else
//     gets "not found", as on every job route); the other party is the target. An open job
//     nobody was assigned to yet has no other party to report (ECONFLICT).
//
// Reporting oneself (one's own agent or service) is refused with EFORBIDDEN, as hiring one's
// own service is. Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT.
func ReportedAgent(reporterID string, a *Agent, svc *Service, j *Job) (string, error) {
	switch {
	case a != nil:
		if a.ID == reporterID {
			return "", Errorf(EFORBIDDEN, "you cannot report yourself")
		}
		return a.ID, nil
	case svc != nil:
		if svc.AgentID == reporterID {
			return "", Errorf(EFORBIDDEN, "you cannot report your own service")
		}
		return svc.AgentID, nil
	case j != nil:
		var other string
		switch reporterID {
		case j.ClientID:
			other = j.ProviderID
		case j.ProviderID:
			other = j.ClientID
		default:
			return "", Errorf(ENOTFOUND, "job not found")
		}
		if other == "" {
			return "", Errorf(ECONFLICT, "job %s has no provider yet: there is nobody to report", j.ID)
		}
		return other, nil
	}
	return "", Errorf(EINVALID, "nothing to report")
}

// ReportService files reports and lets admins review them.
type ReportService interface {
	// SubmitReport files a report for reporterID (see ReportedAgent for who may report what).
	// The target agent's pending report count goes up and its count of jobs since the last
	// report restarts. Errors: EINVALID, EFORBIDDEN (oneself), ENOTFOUND (no such target, or a
	// job the reporter is no party to), ECONFLICT (the reporter's report on the same target is
	// still pending; a job with no other party).
	SubmitReport(ctx context.Context, reporterID string, nr NewReport) (*Report, error)
	// FindReports lists reports for admins, oldest first, by status ("" for all).
	// Errors: EINVALID.
	FindReports(ctx context.Context, status string, p Page) ([]*Report, int, error)
	// DismissReport closes a pending report as unfounded, with an optional note; it stops
	// counting against its target agent. Errors: EINVALID (note), ENOTFOUND, ECONFLICT (not
	// pending).
	DismissReport(ctx context.Context, id, note string) (*Report, error)
	// ActionReport closes a pending report as acted upon (the admin's sanctions, such as
	// restricting the agent, are separate actions), with an optional note; it stops counting
	// against its target agent. Errors: EINVALID (note), ENOTFOUND, ECONFLICT (not pending).
	ActionReport(ctx context.Context, id, note string) (*Report, error)
	// RunDueReports expires the pending reports of every agent whose newest pending report is
	// ReportExpiry old, and returns how many reports expired.
	RunDueReports(ctx context.Context) (int, error)
}
