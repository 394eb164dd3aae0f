package justpay

import "math"

// Trust score weights, from the spec's Trust Score section.
const (
	trustWeightSuccess      = 0.25
	trustWeightRating       = 0.25
	trustWeightDefense      = 0.15
	trustWeightClient       = 0.15
	trustWeightVerification = 0.10
	trustWeightReports      = 0.10
)

// TrustInputs are the facts a trust score is computed from.
type TrustInputs struct {
	JobsCompleted int64 // as provider
	JobsFailed    int64 // as provider: accepted, then expired undelivered
	RatingCount   int64
	RatingSum     int64
	// DisputesDefended and DisputesLost count disputes against the agent; DisputesFiled and
	// ClientJobsCompleted its behaviour as a client.
	DisputesDefended    int64
	DisputesLost        int64
	DisputesFiled       int64
	ClientJobsCompleted int64
	Verified            bool
	PendingReports      int64
}

// TrustScore is the agent's trust score from 0 to 1, rounded to 3 decimals:
//
//   - 25% job success rate as provider: completed / (completed + failed);
//   - 25% average rating, 1 star = 0 and 5 stars = full marks;
//   - 15% dispute defense: 1 - lost / defended;
//   - 15% client behaviour: full marks at a 0% dispute rate, zero at 50% or more, linear between,
//     where the rate is disputes filed / (client jobs completed + disputes filed);
//   - 10% verification by an admin;
//   - 10% report penalty: full marks with no pending report, zero at 5 or more, linear between.
//
// With no history a component scores what it can prove: an agent with no jobs and no ratings gets
// half marks on success and rating (unknown, neither good nor bad), full marks on dispute defense,
// client behaviour and reports (nothing against it), and nothing for verification: 0.65.
func TrustScore(in TrustInputs) float64 {
	success, rating, defense, client := 0.5, 0.5, 1.0, 1.0
	if n := in.JobsCompleted + in.JobsFailed; n > 0 {
		success = float64(in.JobsCompleted) / float64(n)
	}
	if in.RatingCount > 0 {
		avg := float64(in.RatingSum) / float64(in.RatingCount)
		rating = math.Min(math.Max((avg-1)/4, 0), 1)
	}
	if in.DisputesDefended > 0 {
		defense = 1 - float64(in.DisputesLost)/float64(in.DisputesDefended)
	}
	if n := in.ClientJobsCompleted + in.DisputesFiled; n > 0 {
		rate := float64(in.DisputesFiled) / float64(n)
		client = math.Max(0, 1-rate/0.5)
	}
	verified := 0.0
	if in.Verified {
		verified = 1
	}
	reports := math.Max(0, 1-float64(in.PendingReports)/5)
	score := trustWeightSuccess*success + trustWeightRating*rating + trustWeightDefense*defense +
		trustWeightClient*client + trustWeightVerification*verified + trustWeightReports*reports
	return math.Round(math.Min(math.Max(score, 0), 1)*1000) / 1000
}

// TrustScore is the agent's trust score from what the agent record holds.
func (a *Agent) TrustScore() float64 {
	return TrustScore(TrustInputs{JobsCompleted: a.CompletedJobs, JobsFailed: a.ExpiredJobs,
		RatingCount: a.RatingCount, RatingSum: a.RatingSum, DisputesDefended: a.DisputesDefended,
		DisputesLost: a.DisputesLost, DisputesFiled: a.DisputesFiled, ClientJobsCompleted: a.ClientCompletedJobs,
		Verified: a.Verified, PendingReports: a.PendingReports})
}

// Client abuse protection, from the spec's Dispute section.
const (
	ClientRestrictionMinDisputes = 3
	ClientRestrictionRate        = 0.40
)

// ClientDisputeRate is the share of the agent's client-side outcomes that were disputes it filed:
// disputes filed / (client jobs completed + disputes filed); 0 with neither.
func (a *Agent) ClientDisputeRate() float64 {
	n := a.ClientCompletedJobs + a.DisputesFiled
	if n == 0 {
		return 0
	}
	return float64(a.DisputesFiled) / float64(n)
}

// ClientRestricted reports whether the agent disputes too much to create jobs or file disputes:
// at least 3 disputes filed and a dispute rate of 40% or more. Completing jobs lowers the rate
// and lifts it.
func (a *Agent) ClientRestricted() bool {
	return a.DisputesFiled >= ClientRestrictionMinDisputes && a.ClientDisputeRate() >= ClientRestrictionRate
}

// CheckMayHire refuses an agent that an admin restricted or that disputes too much. Errors:
// EFORBIDDEN.
func (a *Agent) CheckMayHire() error {
	if err := a.CheckNotRestricted(); err != nil {
		return err
	}
	if a.ClientRestricted() {
		return Errorf(EFORBIDDEN, "you are restricted from creating jobs and filing disputes: %d disputes filed, a %.0f%% dispute rate (the limit is %.0f%% with %d or more disputes); completing jobs without disputing lifts it",
			a.DisputesFiled, 100*a.ClientDisputeRate(), 100*ClientRestrictionRate, ClientRestrictionMinDisputes)
	}
	return nil
}

// CheckNotRestricted refuses an agent an admin restricted. Errors: EFORBIDDEN.
func (a *Agent) CheckNotRestricted() error {
	if a.Restricted {
		return Errorf(EFORBIDDEN, "your agent is restricted by an admin: %s", a.RestrictedReason)
	}
	return nil
}

// Warning badge severities for pending reports, from the spec's Reports section.
const (
	WarningNone   = ""
	WarningLow    = "low"    // 1-2 pending reports
	WarningMedium = "medium" // 3-4
	WarningHigh   = "high"   // 5 or more
)

// Warning is the badge the agent's pending reports earn.
func (a *Agent) Warning() string {
	switch {
	case a.PendingReports >= 5:
		return WarningHigh
	case a.PendingReports >= 3:
		return WarningMedium
	case a.PendingReports >= 1:
		return WarningLow
	}
	return WarningNone
}
