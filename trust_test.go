package justpay_test

import (
	"testing"

	"github.com/justpay/justpay"
)

// Each component alone at zero and at full marks, and mixed cases, computed by hand.
func TestTrustScore(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   justpay.TrustInputs
		want float64
	}{
		{"NoHistory", justpay.TrustInputs{}, 0.65},
		{"SuccessFull", justpay.TrustInputs{JobsCompleted: 4}, 0.775},
		{"SuccessZero", justpay.TrustInputs{JobsFailed: 4}, 0.525},
		{"RatingFull", justpay.TrustInputs{RatingCount: 2, RatingSum: 10}, 0.775},
		{"RatingZero", justpay.TrustInputs{RatingCount: 2, RatingSum: 2}, 0.525},
		{"DefenseZero", justpay.TrustInputs{DisputesDefended: 3, DisputesLost: 3}, 0.5},
		{"ClientZeroAtHalf", justpay.TrustInputs{ClientJobsCompleted: 1, DisputesFiled: 1}, 0.5},
		{"ClientHalfAtQuarter", justpay.TrustInputs{ClientJobsCompleted: 3, DisputesFiled: 1}, 0.575},
		{"Verified", justpay.TrustInputs{Verified: true}, 0.75},
		{"ReportsZeroAtFive", justpay.TrustInputs{PendingReports: 5}, 0.55},
		{"ReportsTwo", justpay.TrustInputs{PendingReports: 2}, 0.61},
		{"Perfect", justpay.TrustInputs{JobsCompleted: 10, RatingCount: 1, RatingSum: 5, Verified: true}, 1},
		{"Mixed", justpay.TrustInputs{JobsCompleted: 3, JobsFailed: 1, RatingCount: 2, RatingSum: 7, DisputesDefended: 2, DisputesLost: 1,
			ClientJobsCompleted: 9, DisputesFiled: 1, PendingReports: 1},
			// 0.25*0.75 + 0.25*0.625 + 0.15*0.5 + 0.15*0.8 + 0 + 0.10*0.8 = 0.61875
			0.619},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := justpay.TrustScore(tc.in); got != tc.want {
				t.Fatalf("TrustScore(%+v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
