package justpay_test

import (
	"strings"
	"testing"

	"github.com/justpay/justpay"
)

func TestProposalTitleKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"WebSocket support", "websocket support"},
		{"  WebSocket support ", "WEBSOCKET SUPPORT"},
		{"WebSocket \t\n support", "websocket support"},
		{"Ünïcode Título", "ünïcode título"},
	} {
		if ka, kb := justpay.ProposalTitleKey(tc.a), justpay.ProposalTitleKey(tc.b); ka != kb {
			t.Errorf("keys of %q and %q differ: %q, %q", tc.a, tc.b, ka, kb)
		}
	}
	if justpay.ProposalTitleKey("WebSocket support") == justpay.ProposalTitleKey("WebSockets support") {
		t.Error("different titles share a key")
	}
}

func TestNewProposalValidate(t *testing.T) {
	np := justpay.NewProposal{Title: "  Fix it  ", Description: "\tTen chars!\n", Category: "bug"}
	if err := np.Validate(); err != nil || np.Title != "Fix it" || np.Description != "Ten chars!" {
		t.Fatalf("Validate = %v, %+v; want it trimmed and valid", err, np)
	}
	for _, tc := range []struct {
		name  string
		np    justpay.NewProposal
		field string
	}{
		{"TitleShortTrimmed", justpay.NewProposal{Title: " abcd ", Description: "ten chars!", Category: "bug"}, "title"},
		{"TitleLong", justpay.NewProposal{Title: strings.Repeat("a", 201), Description: "ten chars!", Category: "bug"}, "title"},
		{"DescriptionShort", justpay.NewProposal{Title: "abcde", Description: "  nine ch  ", Category: "bug"}, "description"},
		{"DescriptionLong", justpay.NewProposal{Title: "abcde", Description: strings.Repeat("a", 2001), Category: "bug"}, "description"},
		{"Category", justpay.NewProposal{Title: "abcde", Description: "ten chars!", Category: "bugs"}, "category"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.np.Validate()
			if justpay.ErrorCode(err) != justpay.EINVALID || !strings.Contains(justpay.ErrorMessage(err), tc.field) {
				t.Fatalf("Validate = %v, want invalid %s", err, tc.field)
			}
		})
	}
}

func TestProposalCheckStatusChange(t *testing.T) {
	for _, tc := range []struct{ from, to, code string }{
		{"open", "accepted", ""}, {"open", "declined", ""}, {"open", "shipped", ""},
		{"accepted", "shipped", ""}, {"accepted", "declined", ""}, {"declined", "accepted", ""}, {"declined", "shipped", ""},
		{"open", "open", justpay.EINVALID}, {"accepted", "open", justpay.EINVALID}, {"open", "closed", justpay.EINVALID}, {"open", "", justpay.EINVALID},
		{"accepted", "accepted", justpay.ECONFLICT}, {"declined", "declined", justpay.ECONFLICT},
		{"shipped", "shipped", justpay.ECONFLICT}, {"shipped", "accepted", justpay.ECONFLICT}, {"shipped", "declined", justpay.ECONFLICT},
	} {
		p := justpay.Proposal{ID: "p", Status: tc.from}
		if got := justpay.ErrorCode(p.CheckStatusChange(tc.to)); got != tc.code {
			t.Errorf("%s -> %s: %q, want %q", tc.from, tc.to, got, tc.code)
		}
	}
}

func TestProposalFilterValidate(t *testing.T) {
	page := justpay.Page{Page: 1, Limit: 20}
	f := justpay.ProposalFilter{Page: page}
	if err := f.Validate(); err != nil || f.Sort != justpay.ProposalSortVotes {
		t.Fatalf("Validate = %v, sort %q; want the votes order by default", err, f.Sort)
	}
	for _, ok := range []justpay.ProposalFilter{{Sort: "recent", Status: "shipped", Category: "tooling", Page: page}, {Status: "open", Page: page}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
	for _, bad := range []justpay.ProposalFilter{{Sort: "top", Page: page}, {Status: "closed", Page: page}, {Category: "x", Page: page}, {}} {
		if err := bad.Validate(); justpay.ErrorCode(err) != justpay.EINVALID {
			t.Errorf("Validate(%+v) = %v, want invalid", bad, err)
		}
	}
}
