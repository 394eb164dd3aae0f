// Package scheduler does the work that rows say is due: it applies job deadlines (expiry and
// auto-accept), expires reports, sends queued withdrawals through the chain and purges expired idempotency keys. Every step is a guarded store method, so running it
// twice at once, or on several servers, is harmless.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/justpay/justpay"
)

// Store is what the scheduler needs from the database.
type Store interface {
	// ClaimDueWithdrawals leases up to limit due withdrawals to this caller.
	ClaimDueWithdrawals(ctx context.Context, limit int) ([]*justpay.Withdrawal, error)
	// CompleteWithdrawal settles a sent withdrawal; ECONFLICT if it is no longer being sent.
	CompleteWithdrawal(ctx context.Context, id, signature string) error
	// FailWithdrawal refunds a withdrawal the chain refused; ECONFLICT as above.
	FailWithdrawal(ctx context.Context, id, reason string) error
	// RetryWithdrawal schedules another attempt at; ECONFLICT as above.
	RetryWithdrawal(ctx context.Context, id, reason string, at time.Time) error
	// PurgeIdempotencyKeys forgets expired Idempotency-Keys.
	PurgeIdempotencyKeys(ctx context.Context) (int64, error)
	// RunDueJobs applies every job deadline that has passed.
	RunDueJobs(ctx context.Context) (int, error)
	// RunDueCampaigns applies every campaign deadline that has passed.
	RunDueCampaigns(ctx context.Context) (int, error)
	// RunDueReports expires the reports that went 30 days without a newer one.
	RunDueReports(ctx context.Context) (int, error)
}

// Scheduler runs due work.
type Scheduler struct {
	Store Store
	Chain justpay.Chain
	Clock justpay.Clock
	// Logger receives the outcome of each send; nil discards it.
	Logger *slog.Logger
	// Interval is how often Run looks for due work.
	Interval time.Duration
	// Batch is how many withdrawals one pass claims at most.
	Batch int

	mu sync.Mutex // one pass at a time in this process; other processes are kept apart by the store
}

// maxRetryDelay caps the backoff between attempts at a withdrawal the chain failed transiently.
const maxRetryDelay = 5 * time.Minute

// Run calls RunOnce every Interval until ctx is cancelled, logging failures.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("scheduler pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce does everything that is due now, until nothing is left.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := s.Store.RunDueJobs(ctx); err != nil {
		return err
	}
	if _, err := s.Store.RunDueCampaigns(ctx); err != nil {
		return err
	}
	if _, err := s.Store.RunDueReports(ctx); err != nil {
		return err
	}
	for {
		ws, err := s.Store.ClaimDueWithdrawals(ctx, s.batch())
		if err != nil {
			return err
		}
		for _, w := range ws {
			if err := s.send(ctx, w); err != nil {
				return err
			}
		}
		if len(ws) < s.batch() {
			break
		}
	}
	_, err := s.Store.PurgeIdempotencyKeys(ctx)
	return err
}

func (s *Scheduler) batch() int {
	if s.Batch <= 0 {
		return 50
	}
	return s.Batch
}

// send sends one claimed withdrawal and records the outcome. The withdrawal's ID is the chain
// reference, so a send repeated after a crash moves nothing twice.
func (s *Scheduler) send(ctx context.Context, w *justpay.Withdrawal) error {
	sig, err := s.Chain.Send(ctx, w.ID, w.Address, w.NetAmount)
	switch {
	case err == nil:
		err = s.Store.CompleteWithdrawal(ctx, w.ID, sig)
		s.Logger.Info("withdrawal sent", "withdrawal", w.ID, "agent", w.AgentID, "amount", w.NetAmount, "signature", sig)
	case errors.Is(err, justpay.ErrSendRejected):
		s.Logger.Warn("withdrawal rejected by the chain", "withdrawal", w.ID, "agent", w.AgentID, "err", err)
		err = s.Store.FailWithdrawal(ctx, w.ID, err.Error())
	default:
		delay := min(time.Second<<min(w.Attempts-1, 16), maxRetryDelay)
		s.Logger.Warn("withdrawal send failed; will retry", "withdrawal", w.ID, "attempt", w.Attempts, "retry_in", delay, "err", err)
		err = s.Store.RetryWithdrawal(ctx, w.ID, err.Error(), s.Clock.Now().Add(delay))
	}
	if justpay.ErrorCode(err) == justpay.ECONFLICT {
		return nil // another worker finished it first
	}
	return err
}
