package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

// newProposal is a valid proposal titled title.
func newProposal(title string) justpay.NewProposal {
	return justpay.NewProposal{Title: title, Description: "Allow agents to subscribe to job status changes", Category: "feature"}
}

func (e *jobEnv) mustProposal(tb testing.TB, authorID string, np justpay.NewProposal) *justpay.Proposal {
	tb.Helper()
	p, err := e.Store.CreateProposal(context.Background(), authorID, np)
	if err != nil {
		tb.Fatalf("create proposal %q: %v", np.Title, err)
	}
	return p
}

func (e *jobEnv) proposal(tb testing.TB, viewerID, id string) *justpay.Proposal {
	tb.Helper()
	p, err := e.Store.FindProposal(context.Background(), viewerID, id)
	if err != nil {
		tb.Fatalf("find proposal: %v", err)
	}
	return p
}

// holdAgent locks the agent's row in a PostgreSQL transaction of the test's own and returns
// release, which waits until some session waits for that lock and a little more, so that others
// queue up too, and then lets go.
func (e *jobEnv) holdAgent(tb testing.TB, agentID string) (release func()) {
	tb.Helper()
	ctx := context.Background()
	conn, err := e.raw.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		tb.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT id FROM agents WHERE id = $1 FOR UPDATE`, agentID); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	let := func() {
		once.Do(func() {
			tx.Rollback()
			conn.Close()
		})
	}
	tb.Cleanup(let)
	return func() {
		go func() {
			defer let()
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				var blocked int
				if err := e.raw.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&blocked); err != nil || blocked > 0 {
					break
				}
			}
			time.Sleep(300 * time.Millisecond)
		}()
	}
}

// mustVotesAgree checks that every proposal's vote count is the number of its vote rows.
func (e *jobEnv) mustVotesAgree(tb testing.TB) {
	tb.Helper()
	var bad int
	if err := e.raw.QueryRow(`SELECT COUNT(*) FROM proposals p
		WHERE p.vote_count <> (SELECT COUNT(*) FROM proposal_votes v WHERE v.proposal_id = p.id)`).Scan(&bad); err != nil {
		tb.Fatal(err)
	}
	if bad != 0 {
		tb.Fatalf("%d proposals' vote counts disagree with their votes", bad)
	}
}

func TestCreateProposal(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		author, _ := env.MustRegister(t, "author")
		other, _ := env.MustRegister(t, "other")
		now := env.Clock.Now().UTC()

		t.Run("OK", func(t *testing.T) {
			p := env.mustProposal(t, author.ID, justpay.NewProposal{Title: "  WebSocket support for real-time job updates \n",
				Description: " Allow agents to subscribe to job status changes instead of polling ", Category: "feature"})
			want := justpay.Proposal{ID: p.ID, AuthorID: author.ID, AuthorName: "author", Title: "WebSocket support for real-time job updates",
				Description: "Allow agents to subscribe to job status changes instead of polling", Category: "feature",
				Status: justpay.ProposalOpen, CreatedAt: now, UpdatedAt: now}
			if p.HasVoted == nil || *p.HasVoted {
				t.Fatalf("hasVoted = %v, want false for the author", p.HasVoted)
			}
			got := *p
			got.HasVoted = nil
			if !justpay.IsID(p.ID) || got != want {
				t.Fatalf("created %+v, want %+v", got, want)
			}
			if found := env.proposal(t, "", p.ID); found.HasVoted != nil || found.Title != want.Title || !found.CreatedAt.Equal(now) {
				t.Fatalf("found %+v", found)
			}
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				np    justpay.NewProposal
				field string
			}{
				{"TitleShort", justpay.NewProposal{Title: "abcd", Description: "ten chars!", Category: "bug"}, "title"},
				{"TitleShortOnceTrimmed", justpay.NewProposal{Title: "   abcd    ", Description: "ten chars!", Category: "bug"}, "title"},
				{"TitleMissing", justpay.NewProposal{Description: "ten chars!", Category: "bug"}, "title"},
				{"TitleLong", justpay.NewProposal{Title: strings.Repeat("t", 201), Description: "ten chars!", Category: "bug"}, "title"},
				{"TitleNUL", justpay.NewProposal{Title: "null\x00byte", Description: "ten chars!", Category: "bug"}, "title"},
				{"TitleBadUTF8", justpay.NewProposal{Title: "bad \xff utf8", Description: "ten chars!", Category: "bug"}, "title"},
				{"DescriptionShort", justpay.NewProposal{Title: "A title", Description: "nine char", Category: "bug"}, "description"},
				{"DescriptionLong", justpay.NewProposal{Title: "A title", Description: strings.Repeat("d", 2001), Category: "bug"}, "description"},
				{"CategoryMissing", justpay.NewProposal{Title: "A title", Description: "ten chars!"}, "category"},
				{"CategoryUnknown", justpay.NewProposal{Title: "A title", Description: "ten chars!", Category: "campaign"}, "category"},
				{"CategoryWrongCase", justpay.NewProposal{Title: "A title", Description: "ten chars!", Category: "Feature"}, "category"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := env.Store.CreateProposal(ctx, author.ID, tc.np)
					jobWantCode(t, err, justpay.EINVALID)
					if !strings.Contains(justpay.ErrorMessage(err), tc.field) {
						t.Fatalf("error %q does not name %s", justpay.ErrorMessage(err), tc.field)
					}
				})
			}
			// The bounds themselves are fine, counted in characters.
			env.mustProposal(t, author.ID, justpay.NewProposal{Title: "ééééé", Description: strings.Repeat("é", 10), Category: "bug"})
			env.mustProposal(t, author.ID, justpay.NewProposal{Title: strings.Repeat("é", 200), Description: strings.Repeat("é", 2000), Category: "tooling"})
		})

		t.Run("ErrNotFoundAuthor", func(t *testing.T) {
			_, err := env.Store.CreateProposal(ctx, justpay.NewID(now), newProposal("Ghost author"))
			jobWantCode(t, err, justpay.ENOTFOUND)
		})

		t.Run("ErrConflictDuplicateTitle", func(t *testing.T) {
			for _, title := range []string{"WebSocket support for real-time job updates", "websocket SUPPORT for real-time job updates",
				" WebSocket   support\tfor real-time job updates "} {
				for _, by := range []string{author.ID, other.ID} {
					_, err := env.Store.CreateProposal(ctx, by, newProposal(title))
					jobWantCode(t, err, justpay.ECONFLICT)
				}
			}
			// A decided proposal's title is still taken.
			p := env.mustProposal(t, other.ID, newProposal("Declined idea"))
			if _, err := env.Store.SetProposalStatus(ctx, p.ID, justpay.ProposalDeclined); err != nil {
				t.Fatal(err)
			}
			_, err := env.Store.CreateProposal(ctx, author.ID, newProposal("DECLINED IDEA"))
			jobWantCode(t, err, justpay.ECONFLICT)
		})

		t.Run("ErrForbiddenTooManyOpen", func(t *testing.T) {
			limited, _ := env.MustRegister(t, "limited")
			var open []*justpay.Proposal
			for i := range justpay.MaxOpenProposals {
				open = append(open, env.mustProposal(t, limited.ID, newProposal(fmt.Sprintf("Limited idea %d", i))))
			}
			_, err := env.Store.CreateProposal(ctx, limited.ID, newProposal("One too many"))
			jobWantCode(t, err, justpay.EFORBIDDEN)
			// Others are not limited by it.
			env.mustProposal(t, other.ID, newProposal("Someone else's idea"))
			// A decision frees a place.
			if _, err := env.Store.SetProposalStatus(ctx, open[3].ID, justpay.ProposalAccepted); err != nil {
				t.Fatal(err)
			}
			env.mustProposal(t, limited.ID, newProposal("One too many"))
			_, err = env.Store.CreateProposal(ctx, limited.ID, newProposal("Two too many"))
			jobWantCode(t, err, justpay.EFORBIDDEN)
		})
	})
}

func TestVoteProposal(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		author, _ := env.MustRegister(t, "author")
		ann, _ := env.MustRegister(t, "ann")
		bob, _ := env.MustRegister(t, "bob")
		p := env.mustProposal(t, author.ID, newProposal("Vote on me"))
		vote := func(agentID, id string, want int64, code string) {
			t.Helper()
			n, err := env.Store.Vote(ctx, agentID, id)
			jobWantCode(t, err, code)
			if code == "" && n != want {
				t.Fatalf("vote count = %d, want %d", n, want)
			}
		}
		unvote := func(agentID, id string, want int64, code string) {
			t.Helper()
			n, err := env.Store.Unvote(ctx, agentID, id)
			jobWantCode(t, err, code)
			if code == "" && n != want {
				t.Fatalf("vote count = %d, want %d", n, want)
			}
		}
		voted := func(viewerID string, want bool) {
			t.Helper()
			if got := env.proposal(t, viewerID, p.ID).HasVoted; got == nil || *got != want {
				t.Fatalf("hasVoted for %s = %v, want %v", viewerID, got, want)
			}
		}

		vote(ann.ID, p.ID, 1, "")
		voted(ann.ID, true)
		voted(bob.ID, false)
		vote(ann.ID, p.ID, 0, justpay.ECONFLICT) // once
		vote(bob.ID, p.ID, 2, "")
		vote(author.ID, p.ID, 0, justpay.EFORBIDDEN) // not one's own
		vote(ann.ID, justpay.NewID(env.Clock.Now()), 0, justpay.ENOTFOUND)
		vote(ann.ID, "not-an-id", 0, justpay.ENOTFOUND)
		if got := env.proposal(t, "", p.ID); got.VoteCount != 2 || got.HasVoted != nil {
			t.Fatalf("proposal %+v, want 2 votes and no hasVoted", got)
		}

		unvote(ann.ID, p.ID, 1, "")
		voted(ann.ID, false)
		unvote(ann.ID, p.ID, 0, justpay.ECONFLICT)    // not voted any more
		unvote(author.ID, p.ID, 0, justpay.ECONFLICT) // never voted
		unvote(ann.ID, justpay.NewID(env.Clock.Now()), 0, justpay.ENOTFOUND)
		vote(ann.ID, p.ID, 2, "") // again
		env.mustVotesAgree(t)

		// Decided: the tally is frozen.
		if _, err := env.Store.SetProposalStatus(ctx, p.ID, justpay.ProposalAccepted); err != nil {
			t.Fatal(err)
		}
		carl, _ := env.MustRegister(t, "carl")
		vote(carl.ID, p.ID, 0, justpay.ECONFLICT)
		unvote(ann.ID, p.ID, 0, justpay.ECONFLICT)
		vote(author.ID, p.ID, 0, justpay.EFORBIDDEN)
		if got := env.proposal(t, ann.ID, p.ID); got.VoteCount != 2 || !*got.HasVoted || got.Status != justpay.ProposalAccepted {
			t.Fatalf("proposal %+v, want accepted with 2 votes, ann's among them", got)
		}
		env.mustVotesAgree(t)
	})
}

func TestFindProposals(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		var voters []*justpay.Agent
		for i := range 4 {
			a, _ := env.MustRegister(t, fmt.Sprintf("voter-%d", i))
			voters = append(voters, a)
		}
		author, _ := env.MustRegister(t, "author")
		// Created one second apart: p0 oldest. Votes: p0 1, p1 3, p2 0, p3 3, p4 2.
		cats := []string{"feature", "bug", "feature", "tooling", "integration"}
		votes := []int{1, 3, 0, 3, 2}
		var ps []*justpay.Proposal
		for i := range 5 {
			ps = append(ps, env.mustProposal(t, author.ID, justpay.NewProposal{Title: fmt.Sprintf("Proposal number %d", i),
				Description: "Some description", Category: cats[i]}))
			env.Clock.Advance(1e9)
			for v := range votes[i] {
				if _, err := env.Store.Vote(ctx, voters[v].ID, ps[i].ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := env.Store.SetProposalStatus(ctx, ps[4].ID, justpay.ProposalShipped); err != nil {
			t.Fatal(err)
		}
		find := func(viewerID string, f justpay.ProposalFilter, wantTotal int, want ...int) []*justpay.Proposal {
			t.Helper()
			if f.Page.Page == 0 {
				f.Page = justpay.Page{Page: 1, Limit: 20}
			}
			got, total, err := env.Store.FindProposals(ctx, viewerID, f)
			if err != nil {
				t.Fatalf("find %+v: %v", f, err)
			}
			var ids, wantIDs []string
			for _, p := range got {
				ids = append(ids, p.ID)
			}
			for _, i := range want {
				wantIDs = append(wantIDs, ps[i].ID)
			}
			if total != wantTotal || !slices.Equal(ids, wantIDs) {
				t.Fatalf("find %+v = %v of %d, want %v of %d", f, ids, total, wantIDs, wantTotal)
			}
			return got
		}
		// Votes, most first; among equals the newest first.
		got := find("", justpay.ProposalFilter{}, 5, 3, 1, 4, 0, 2)
		for _, p := range got {
			if p.HasVoted != nil {
				t.Fatalf("anonymous list shows hasVoted on %+v", p)
			}
		}
		find("", justpay.ProposalFilter{Sort: "votes"}, 5, 3, 1, 4, 0, 2)
		find("", justpay.ProposalFilter{Sort: "recent"}, 5, 4, 3, 2, 1, 0)
		find("", justpay.ProposalFilter{Status: "open"}, 4, 3, 1, 0, 2)
		find("", justpay.ProposalFilter{Status: "shipped"}, 1, 4)
		find("", justpay.ProposalFilter{Status: "declined"}, 0)
		find("", justpay.ProposalFilter{Category: "feature"}, 2, 0, 2)
		find("", justpay.ProposalFilter{Category: "feature", Status: "open", Sort: "recent"}, 2, 2, 0)
		find("", justpay.ProposalFilter{Sort: "recent", Page: justpay.Page{Page: 2, Limit: 2}}, 5, 2, 1)
		find("", justpay.ProposalFilter{Page: justpay.Page{Page: 3, Limit: 2}}, 5, 2)
		find("", justpay.ProposalFilter{Page: justpay.Page{Page: 4, Limit: 2}}, 5)

		// voter-2 voted for p1 and p3 only.
		got = find(voters[2].ID, justpay.ProposalFilter{}, 5, 3, 1, 4, 0, 2)
		for i, want := range []bool{true, true, false, false, false} {
			if got[i].HasVoted == nil || *got[i].HasVoted != want {
				t.Fatalf("hasVoted of %s = %v, want %v", got[i].Title, got[i].HasVoted, want)
			}
		}
		if got[0].VoteCount != 3 || got[0].AuthorName != "author" || got[0].Category != "tooling" {
			t.Fatalf("first = %+v", got[0])
		}

		for _, f := range []justpay.ProposalFilter{
			{Sort: "top"}, {Sort: "Votes"}, {Status: "closed"}, {Category: "campaign"},
			{Page: justpay.Page{Page: 0, Limit: 20}}, {Page: justpay.Page{Page: 1, Limit: 101}},
		} {
			if f.Page.Page == 0 && f.Page.Limit == 0 {
				f.Page = justpay.Page{Page: 1, Limit: 20}
			}
			_, _, err := env.Store.FindProposals(ctx, "", f)
			jobWantCode(t, err, justpay.EINVALID)
		}
		_, err := env.Store.FindProposal(ctx, "", "nope")
		jobWantCode(t, err, justpay.ENOTFOUND)
		_, err = env.Store.FindProposal(ctx, "", justpay.NewID(env.Clock.Now()))
		jobWantCode(t, err, justpay.ENOTFOUND)
	})
}

func TestSetProposalStatus(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		author, _ := env.MustRegister(t, "author")
		p := env.mustProposal(t, author.ID, newProposal("Decide on me"))
		created := p.CreatedAt
		set := func(status, code string) {
			t.Helper()
			env.Clock.Advance(1e6) // audit records of one instant have no order among themselves
			got, err := env.Store.SetProposalStatus(ctx, p.ID, status)
			jobWantCode(t, err, code)
			if code == "" && (got.Status != status || got.ID != p.ID || got.HasVoted != nil || !got.UpdatedAt.Equal(env.Clock.Now()) ||
				!got.CreatedAt.Equal(created)) {
				t.Fatalf("set %s = %+v", status, got)
			}
		}
		for _, bad := range []string{"", "open", "Accepted", "closed"} {
			set(bad, justpay.EINVALID)
		}
		env.Clock.Advance(1e9)
		set(justpay.ProposalAccepted, "")
		set(justpay.ProposalAccepted, justpay.ECONFLICT)
		set(justpay.ProposalDeclined, "") // a change of mind
		set(justpay.ProposalAccepted, "")
		set(justpay.ProposalShipped, "")
		for _, s := range justpay.ProposalDecisions {
			set(s, justpay.ECONFLICT) // shipped is final
		}
		_, err := env.Store.SetProposalStatus(ctx, justpay.NewID(env.Clock.Now()), justpay.ProposalAccepted)
		jobWantCode(t, err, justpay.ENOTFOUND)
		_, err = env.Store.SetProposalStatus(ctx, "x", justpay.ProposalAccepted)
		jobWantCode(t, err, justpay.ENOTFOUND)

		// Every change, and only the changes, left an audit record, newest first.
		records, total, err := env.Store.FindAudit(ctx, justpay.Page{Page: 1, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		want := [][2]string{{"accepted", "shipped"}, {"declined", "accepted"}, {"accepted", "declined"}, {"open", "accepted"}}
		if total != len(want) {
			t.Fatalf("%d audit records, want %d", total, len(want))
		}
		for i, r := range records {
			if r.Action != "proposal.set_status" || r.TargetType != "proposal" || r.TargetID != p.ID ||
				r.Details["from"] != want[i][0] || r.Details["to"] != want[i][1] {
				t.Fatalf("audit %d = %+v, want %v", i, r, want[i])
			}
		}
	})
}

// TestProposalRaces: one vote per agent, the open-proposal limit and unique titles hold when the
// requests arrive together.
func TestProposalRaces(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		author, _ := env.MustRegister(t, "author")
		const n = 20
		race := func(t *testing.T, op func(i int) error) map[string]int {
			t.Helper()
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { errs[i] = op(i) })
			}
			wg.Wait()
			codes := map[string]int{}
			for _, err := range errs {
				codes[justpay.ErrorCode(err)]++
			}
			return codes
		}
		want := func(t *testing.T, name string, got, want map[string]int) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: outcomes %v, want %v", name, got, want)
			}
		}

		t.Run("OneAgentVotesOnce", func(t *testing.T) {
			p := env.mustProposal(t, author.ID, newProposal("Vote race"))
			voter, _ := env.MustRegister(t, "eager-voter")
			want(t, "votes", race(t, func(int) error { _, err := env.Store.Vote(ctx, voter.ID, p.ID); return err }),
				map[string]int{"": 1, justpay.ECONFLICT: n - 1})
			if got := env.proposal(t, voter.ID, p.ID); got.VoteCount != 1 || !*got.HasVoted {
				t.Fatalf("after the race %+v, want one vote", got)
			}
			want(t, "unvotes", race(t, func(int) error { _, err := env.Store.Unvote(ctx, voter.ID, p.ID); return err }),
				map[string]int{"": 1, justpay.ECONFLICT: n - 1})
			if got := env.proposal(t, voter.ID, p.ID); got.VoteCount != 0 || *got.HasVoted {
				t.Fatalf("after the unvote race %+v, want no vote", got)
			}
			env.mustVotesAgree(t)
		})

		t.Run("ManyAgentsVote", func(t *testing.T) {
			p := env.mustProposal(t, author.ID, newProposal("Popular idea"))
			var voters []*justpay.Agent
			for i := range n {
				a, _ := env.MustRegister(t, fmt.Sprintf("crowd-%d", i))
				voters = append(voters, a)
			}
			want(t, "votes", race(t, func(i int) error { _, err := env.Store.Vote(ctx, voters[i].ID, p.ID); return err }),
				map[string]int{"": n})
			if got := env.proposal(t, "", p.ID); got.VoteCount != n {
				t.Fatalf("vote count %d, want %d", got.VoteCount, n)
			}
			// Half take their vote back while the other half try to vote again.
			want(t, "mixed", race(t, func(i int) error {
				if i%2 == 0 {
					_, err := env.Store.Unvote(ctx, voters[i].ID, p.ID)
					return err
				}
				_, err := env.Store.Vote(ctx, voters[i].ID, p.ID)
				return err
			}), map[string]int{"": n / 2, justpay.ECONFLICT: n / 2})
			if got := env.proposal(t, "", p.ID); got.VoteCount != n/2 {
				t.Fatalf("vote count %d, want %d", got.VoteCount, n/2)
			}
			env.mustVotesAgree(t)
		})

		t.Run("OpenLimit", func(t *testing.T) {
			busy, _ := env.MustRegister(t, "busy")
			for i := range justpay.MaxOpenProposals - 1 {
				env.mustProposal(t, busy.ID, newProposal(fmt.Sprintf("Busy idea %d", i)))
			}
			// On PostgreSQL a transaction of the test's own holds the author's row first, so that
			// the creations pile up and start together when it lets go: without the store's lock on
			// that row they would all count 9 open proposals (their inserts' foreign key check
			// waits on the row after the count) and all succeed.
			var release func()
			if b.URL != "" {
				release = env.holdAgent(t, busy.ID)
			}
			want(t, "creates", race(t, func(i int) error {
				if i == 0 && release != nil {
					release()
				}
				_, err := env.Store.CreateProposal(ctx, busy.ID, newProposal(fmt.Sprintf("Racing idea %d", i)))
				return err
			}), map[string]int{"": 1, justpay.EFORBIDDEN: n - 1})
			var mine int
			if err := env.raw.QueryRow(`SELECT COUNT(*) FROM proposals WHERE author_id = $1 AND status = 'open'`, busy.ID).Scan(&mine); err != nil {
				t.Fatal(err)
			}
			if mine != justpay.MaxOpenProposals {
				t.Fatalf("busy has %d open proposals, want %d", mine, justpay.MaxOpenProposals)
			}
		})

		t.Run("SameTitle", func(t *testing.T) {
			var agents []*justpay.Agent
			for i := range n {
				a, _ := env.MustRegister(t, fmt.Sprintf("twin-%d", i))
				agents = append(agents, a)
			}
			// Two agents, then twenty, all with one title in different spellings.
			for _, k := range []int{2, n} {
				title := fmt.Sprintf("Same title %d", k)
				got := race(t, func(i int) error {
					if i >= k {
						return nil
					}
					_, err := env.Store.CreateProposal(ctx, agents[i].ID, newProposal(strings.Repeat(" ", i%3)+strings.ToUpper(title[:i%len(title)])+title[i%len(title):]))
					return err
				})
				got[""] -= n - k // the idle ones
				want(t, title, got, map[string]int{"": 1, justpay.ECONFLICT: k - 1})
			}
		})
	})
}

// TestProposalStats: the stats count open proposals, and the volume is everything providers
// were paid: completed jobs, the provider's share of a split dispute and accepted campaign tasks.
func TestProposalStats(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := newJobEnv(t, b)
		seller := env.mustAgent(t, "seller", 2*usdc)
		client := env.mustAgent(t, "client", 11*usdc)
		env.MustRegister(t, "lurker")
		svc := env.mustService(t, seller.ID, serviceFields(jobPrice))
		env.mustCompleted(t, client.ID, svc)
		disputed := env.mustDelivered(t, client.ID, svc)
		d, err := env.Store.FileDispute(ctx, client.ID, disputed.ID, justpay.NewDispute{Reason: "quality"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.ResolveDispute(ctx, d.ID, justpay.Resolution{Outcome: justpay.OutcomeSplit}); err != nil {
			t.Fatal(err)
		}
		refunded := env.mustDelivered(t, client.ID, svc)
		d, err = env.Store.FileDispute(ctx, client.ID, refunded.ID, justpay.NewDispute{Reason: "quality"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.ResolveDispute(ctx, d.ID, justpay.Resolution{Outcome: justpay.OutcomeClaimant}); err != nil {
			t.Fatal(err)
		}
		defended := env.mustDelivered(t, client.ID, svc) // the provider wins: a completed job
		d, err = env.Store.FileDispute(ctx, client.ID, defended.ID, justpay.NewDispute{Reason: "quality"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.ResolveDispute(ctx, d.ID, justpay.Resolution{Outcome: justpay.OutcomeRespondent}); err != nil {
			t.Fatal(err)
		}
		c := env.mustCampaign(t, client.ID, newCampaign(2*taskReward))
		task := env.mustClaim(t, seller.ID, c.ID)
		if _, err := env.Store.DeliverTask(ctx, seller.ID, c.ID, task.ID, taskOutput); err != nil {
			t.Fatal(err)
		}
		open := env.mustProposal(t, seller.ID, newProposal("Still open"))
		env.mustProposal(t, client.ID, newProposal("Also open"))
		shipped := env.mustProposal(t, client.ID, newProposal("Shipped already"))
		if _, err := env.Store.SetProposalStatus(ctx, shipped.ID, justpay.ProposalShipped); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.Vote(ctx, client.ID, open.ID); err != nil {
			t.Fatal(err)
		}

		st, err := env.Store.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		providerHalf, _ := justpay.SplitAmount(jobPrice)
		want := justpay.Stats{AgentsTotal: 3, AgentsActivated: 2, ServicesActive: 1, JobsTotal: 4, JobsCompleted: 2,
			ProposalsOpen: 2, VolumeTotal: 2*jobPrice + providerHalf + taskReward}
		if *st != want {
			t.Fatalf("stats = %+v, want %+v", *st, want)
		}
		sqlstoretest.MustVerify(t, env.DB)
	})
}
