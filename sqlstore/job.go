package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/justpay/justpay"
)

var _ justpay.JobService = (*Store)(nil)

const jobColumns = `id, type, status, COALESCE(service_id, ''), client_id, provider_id, title, category, description,
	input, output, amount, platform_fee, callback_url, application_window_secs, execution_time_secs,
	expires_at, accepted_at, delivered_at, finished_at, created_at, updated_at`

func scanJob(row scanner) (*justpay.Job, error) {
	var j justpay.Job
	var input string
	var output sql.NullString
	var expires, accepted, delivered, finished sql.NullTime
	err := row.Scan(&j.ID, &j.Type, &j.Status, &j.ServiceID, &j.ClientID, &j.ProviderID, &j.Title, &j.Category, &j.Description,
		&input, &output, &j.Amount, &j.PlatformFee, &j.CallbackURL, &j.ApplicationWindowSecs, &j.ExecutionTimeSecs,
		&expires, &accepted, &delivered, &finished, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "job not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan job: %w", err)
	}
	j.Input = json.RawMessage(input)
	if output.Valid {
		j.Output = json.RawMessage(output.String)
	}
	j.ExpiresAt, j.AcceptedAt, j.DeliveredAt, j.FinishedAt = nullTime(expires), nullTime(accepted), nullTime(delivered), nullTime(finished)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return &j, nil
}

func (tx *Tx) findJob(ctx context.Context, id string, lock bool) (*justpay.Job, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "job not found")
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE id = $1`
	if lock {
		q += tx.db.dialect.forUpdate
	}
	return scanJob(tx.QueryRowContext(ctx, q, id))
}

// jobEscrow is the escrow account of a job.
func jobEscrow(id string) string { return justpay.EscrowAccount("job", id) }

// CreateJob creates a direct or open job and escrows its cost. See justpay.JobService.
func (s *Store) CreateJob(ctx context.Context, clientID string, nj justpay.NewJob) (*justpay.Job, error) {
	if err := nj.Validate(); err != nil {
		return nil, err
	}
	var job *justpay.Job
	err := s.update(ctx, func(tx *Tx) error {
		// Locks are taken in the order every job path uses: service, agents, balances. The
		// service's row lock makes the capacity check and the queue exact.
		var svc *justpay.Service
		var err error
		if nj.Type == justpay.JobDirect {
			if svc, err = tx.findService(ctx, nj.ServiceID, true); err != nil {
				return err
			}
		}
		client, err := tx.startMoneyAction(ctx, clientID)
		if err != nil {
			return err
		}
		if err := client.CheckMayHire(); err != nil {
			return err
		}
		j := &justpay.Job{ID: justpay.NewID(tx.now), Type: nj.Type, ClientID: clientID, Input: nj.Input, CallbackURL: nj.CallbackURL,
			CreatedAt: tx.now, UpdatedAt: tx.now}
		if svc != nil {
			if err := s.checkHire(ctx, tx, client, svc, nj.Input); err != nil {
				return err
			}
			j.ServiceID, j.ProviderID, j.Category = svc.ID, svc.AgentID, svc.Category
			j.Amount, j.ExecutionTimeSecs = svc.PricePerJob, svc.MaxExecutionTimeSecs
			if j.Status, err = tx.admit(ctx, svc); err != nil {
				return err
			}
			tx.setDeadline(j, svc)
		} else {
			j.Status, j.Title, j.Category, j.Description, j.Amount = justpay.JobOpenState, nj.Title, nj.Category, nj.Description, nj.Amount
			j.ApplicationWindowSecs, j.ExecutionTimeSecs = *nj.ApplicationWindow, int(justpay.OpenJobExecutionTime/time.Second)
			deadline := tx.now.Add(time.Duration(j.ApplicationWindowSecs) * time.Second)
			j.ExpiresAt = &deadline
		}
		j.PlatformFee = justpay.JobFee(j.Amount, s.jobFeeBps)
		if _, err := justpay.AddMicro(j.Amount, j.PlatformFee); err != nil {
			return err
		}
		if err := tx.insertJob(ctx, j); err != nil {
			return err
		}
		if err := tx.openAccount(ctx, jobEscrow(j.ID), clientID); err != nil {
			return err
		}
		if j.TotalCost() > 0 {
			lt := justpay.Transfer(justpay.TxEscrowLock, justpay.AgentAvailable(clientID), jobEscrow(j.ID), j.TotalCost())
			lt.RefType, lt.RefID = "job", j.ID
			lt.Description = fmt.Sprintf("escrow for job %s: %s + %s fee", j.ID, justpay.FormatUSDC(j.Amount), justpay.FormatUSDC(j.PlatformFee))
			if _, err := tx.post(ctx, lt); err != nil {
				return err
			}
		}
		if j.Type == justpay.JobDirect {
			if err := tx.recordJobCreated(ctx, j, client); err != nil {
				return err
			}
		}
		job = j
		return nil
	})
	return job, err
}

// checkHire applies the rules of hiring svc: active, not one's own, trusted enough, valid input.
func (s *Store) checkHire(ctx context.Context, tx *Tx, client *justpay.Agent, svc *justpay.Service, input json.RawMessage) error {
	switch {
	case !svc.Active:
		return justpay.Errorf(justpay.ECONFLICT, "service %s is not active", svc.ID)
	case svc.AgentID == client.ID:
		return justpay.Errorf(justpay.EFORBIDDEN, "you cannot hire your own service")
	case client.TrustScore() < svc.MinClientTrustScore:
		return justpay.Errorf(justpay.EFORBIDDEN, "your trust score %.3f is below the %.3f this service requires", client.TrustScore(), svc.MinClientTrustScore)
	}
	if err := s.schemas.Validate(svc.InputSchema, input); err != nil {
		return justpay.Errorf(justpay.EINVALID, "input does not match the service's inputSchema: %s", justpay.ErrorMessage(err))
	}
	return nil
}

// admit decides where a new direct job of svc starts: running (pending or accepted) if the
// service has a free slot, queued if its queue has room, else ECONFLICT.
func (tx *Tx) admit(ctx context.Context, svc *justpay.Service) (string, error) {
	running, queued, err := tx.serviceLoad(ctx, svc.ID)
	if err != nil {
		return "", err
	}
	switch {
	case running < svc.MaxConcurrentJobs:
		return startStatus(svc), nil
	case !svc.QueueEnabled:
		return "", justpay.Errorf(justpay.ECONFLICT, "service is at capacity (%d jobs running) and does not queue jobs; try again later", running)
	case queued >= svc.MaxQueueSize:
		return "", justpay.Errorf(justpay.ECONFLICT, "service is at capacity (%d jobs running) and its queue is full (%d waiting); try again later", running, queued)
	}
	return justpay.JobQueued, nil
}

// startStatus is the status a direct job of svc starts running in.
func startStatus(svc *justpay.Service) string {
	if svc.AutoAccept {
		return justpay.JobAccepted
	}
	return justpay.JobPending
}

// setDeadline sets the job's deadline for its status, from now.
func (tx *Tx) setDeadline(j *justpay.Job, svc *justpay.Service) {
	var d time.Duration
	switch j.Status {
	case justpay.JobPending:
		d = justpay.ProviderAcceptWindow
	case justpay.JobAccepted:
		d = time.Duration(j.ExecutionTimeSecs) * time.Second
		j.AcceptedAt = &tx.now
	case justpay.JobDelivered:
		d = justpay.ReviewWindow
	default:
		j.ExpiresAt = nil
		return
	}
	deadline := tx.now.Add(d)
	j.ExpiresAt = &deadline
}

// serviceLoad counts a service's running (pending or accepted) and queued jobs.
func (tx *Tx) serviceLoad(ctx context.Context, serviceID string) (running, queued int, err error) {
	err = tx.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN status IN ('pending', 'accepted') THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0)
		FROM jobs WHERE service_id = $1 AND status IN ('pending', 'accepted', 'queued')`, serviceID).Scan(&running, &queued)
	if err != nil {
		return 0, 0, fmt.Errorf("service load: %w", err)
	}
	return running, queued, nil
}

func (tx *Tx) insertJob(ctx context.Context, j *justpay.Job) error {
	var service any
	if j.ServiceID != "" {
		service = j.ServiceID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, type, status, service_id, client_id, provider_id, title, category, description,
		input, amount, platform_fee, callback_url, application_window_secs, execution_time_secs, expires_at, accepted_at,
		created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)`,
		j.ID, j.Type, j.Status, service, j.ClientID, j.ProviderID, j.Title, j.Category, j.Description, string(j.Input),
		j.Amount, j.PlatformFee, j.CallbackURL, j.ApplicationWindowSecs, j.ExecutionTimeSecs, j.ExpiresAt, j.AcceptedAt, tx.now)
	if err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	return nil
}

// saveJob writes a job's new state, guarded by the status it was read in: a concurrent change
// (on SQLite there is none; on PostgreSQL the row is locked too) makes it ECONFLICT.
func (tx *Tx) saveJob(ctx context.Context, j *justpay.Job, from string) error {
	var output any
	if j.Output != nil {
		output = string(j.Output)
	}
	// Only an open job gets its provider; setting the column otherwise would rewrite its index
	// entry on every change of status for nothing.
	args := []any{j.Status, output, j.ExpiresAt, j.AcceptedAt, j.DeliveredAt, j.FinishedAt, tx.now, j.ID, from}
	setProvider := ""
	if from == justpay.JobOpen {
		setProvider, args = ", provider_id = $10", append(args, j.ProviderID)
	}
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = $1, output = $2, expires_at = $3, accepted_at = $4,
		delivered_at = $5, finished_at = $6, updated_at = $7`+setProvider+` WHERE id = $8 AND status = $9`, args...)
	if err != nil {
		return fmt.Errorf("update job: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return justpay.Errorf(justpay.ECONFLICT, "job %s changed concurrently; reload it", j.ID)
	}
	j.UpdatedAt = tx.now
	return nil
}

// act loads and locks a job, checks that agentID may take action on it now, applies change and
// saves it, all in one transaction, and returns the job.
func (s *Store) act(ctx context.Context, agentID, id, action string, change func(tx *Tx, j *justpay.Job) error) (*justpay.Job, error) {
	var job *justpay.Job
	err := s.update(ctx, func(tx *Tx) error {
		if err := tx.applyIdempotency(ctx); err != nil {
			return err
		}
		j, err := tx.findJob(ctx, id, true)
		if err != nil {
			return err
		}
		if err := j.CheckAction(action, agentID, tx.now); err != nil {
			return err
		}
		from := j.Status
		if err := change(tx, j); err != nil {
			return err
		}
		if err := tx.commitJob(ctx, j, from); err != nil {
			return err
		}
		job = j
		return nil
	})
	return job, err
}

// commitJob writes a job's change of status and what follows from it, in the lock order every
// job path keeps (job, service, queued jobs, agents, balances) so that concurrent transactions
// on PostgreSQL never wait for each other in a cycle: the status is saved (the job row is locked
// already); a slot it freed goes to the oldest queued job of its service; a finished job's escrow
// is paid out or refunded (and an open job's pending applications rejected); the parties are
// notified.
func (tx *Tx) commitJob(ctx context.Context, j *justpay.Job, from string) error {
	if err := tx.saveJob(ctx, j, from); err != nil {
		return err
	}
	if j.ServiceID != "" && isRunning(from) && !isRunning(j.Status) {
		if err := tx.promoteQueued(ctx, j.ServiceID); err != nil {
			return err
		}
	}
	if from == justpay.JobOpen && j.Finished() {
		// Cancelled or expired while open: nobody got the job.
		if _, err := tx.ExecContext(ctx, `UPDATE job_applications SET status = $1 WHERE job_id = $2 AND status = $3`,
			justpay.ApplicationRejected, j.ID, justpay.ApplicationPending); err != nil {
			return fmt.Errorf("reject applications: %w", err)
		}
	}
	if j.Finished() {
		if err := tx.settleJob(ctx, j, from); err != nil {
			return err
		}
	}
	return tx.notifyJob(ctx, j, from)
}

// isRunning reports whether a job in status takes one of its service's concurrent slots.
func isRunning(status string) bool {
	return status == justpay.JobPending || status == justpay.JobAccepted
}

// AcceptJob starts a pending direct job. See justpay.JobService.
func (s *Store) AcceptJob(ctx context.Context, providerID, id string) (*justpay.Job, error) {
	return s.act(ctx, providerID, id, justpay.ActionAccept, func(tx *Tx, j *justpay.Job) error {
		j.Status = justpay.JobAccepted
		tx.setDeadline(j, nil)
		return nil
	})
}

// DeliverJob records the provider's output. See justpay.JobService.
func (s *Store) DeliverJob(ctx context.Context, providerID, id string, output json.RawMessage) (*justpay.Job, error) {
	if len(output) == 0 {
		return nil, justpay.Errorf(justpay.EINVALID, "output is required")
	}
	if err := justpay.ValidateJSON("output", output); err != nil {
		return nil, err
	}
	return s.act(ctx, providerID, id, justpay.ActionDeliver, func(tx *Tx, j *justpay.Job) error {
		if j.ServiceID != "" {
			svc, err := tx.findService(ctx, j.ServiceID, false)
			if err != nil {
				return err
			}
			if err := s.schemas.Validate(svc.OutputSchema, output); err != nil {
				return justpay.Errorf(justpay.EINVALID, "output does not match the service's outputSchema: %s", justpay.ErrorMessage(err))
			}
		}
		j.Status, j.Output, j.DeliveredAt = justpay.JobDelivered, output, &tx.now
		tx.setDeadline(j, nil)
		return nil
	})
}

// AcceptDelivery completes a delivered job. See justpay.JobService.
func (s *Store) AcceptDelivery(ctx context.Context, clientID, id string) (*justpay.Job, error) {
	return s.act(ctx, clientID, id, justpay.ActionAcceptDelivery, func(tx *Tx, j *justpay.Job) error {
		finish(tx, j, justpay.JobCompleted)
		return nil
	})
}

// CancelJob refunds the client before delivery. See justpay.JobService.
func (s *Store) CancelJob(ctx context.Context, clientID, id string) (*justpay.Job, error) {
	return s.act(ctx, clientID, id, justpay.ActionCancel, func(tx *Tx, j *justpay.Job) error {
		finish(tx, j, justpay.JobCancelled)
		return nil
	})
}

// finish sets a job's final status; commitJob then settles its escrow.
func finish(tx *Tx, j *justpay.Job, status string) {
	j.Status, j.FinishedAt, j.ExpiresAt = status, &tx.now, nil
}

// settleJob moves a finished job's escrow to where its status sends it and closes the escrow:
// completed pays the provider the amount and the platform the fee; cancelled and expired refund
// the client everything. It also counts the job on the provider and the service.
func (tx *Tx) settleJob(ctx context.Context, j *justpay.Job, from string) error {
	escrow := jobEscrow(j.ID)
	var lt justpay.LedgerTx
	switch j.Status {
	case justpay.JobCompleted:
		lt = justpay.LedgerTx{Type: justpay.TxEarned, Description: "payment for job " + j.ID}
		if j.Amount > 0 {
			lt.Entries = append(lt.Entries, justpay.Entry{Account: justpay.AgentAvailable(j.ProviderID), Amount: j.Amount})
		}
		if j.PlatformFee > 0 {
			lt.Entries = append(lt.Entries, justpay.Entry{Account: justpay.PlatformRevenue, Amount: j.PlatformFee})
		}
		if err := tx.countCompleted(ctx, j); err != nil {
			return err
		}
	default:
		lt = justpay.LedgerTx{Type: justpay.TxRefund, Description: fmt.Sprintf("job %s %s: full refund", j.ID, j.Status)}
		if j.TotalCost() > 0 {
			lt.Entries = []justpay.Entry{{Account: justpay.AgentAvailable(j.ClientID), Amount: j.TotalCost()}}
		}
		if j.Status == justpay.JobExpired && from == justpay.JobAccepted {
			if _, err := tx.ExecContext(ctx, `UPDATE agents SET expired_jobs = expired_jobs + 1 WHERE id = $1`, j.ProviderID); err != nil {
				return err
			}
		}
	}
	if len(lt.Entries) > 0 {
		lt.Entries = append(lt.Entries, justpay.Entry{Account: escrow, Amount: -j.TotalCost()})
		lt.RefType, lt.RefID = "job", j.ID
		if _, err := tx.post(ctx, lt); err != nil {
			return err
		}
	}
	return tx.closeAccount(ctx, escrow)
}

// countCompleted counts a job whose provider was paid in full: on its service, on the provider (as
// a job done, and one more towards dismissing its oldest report) and on the client.
func (tx *Tx) countCompleted(ctx context.Context, j *justpay.Job) error {
	if j.ServiceID != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE services SET completed_jobs = completed_jobs + 1 WHERE id = $1`, j.ServiceID); err != nil {
			return fmt.Errorf("count completed job: %w", err)
		}
	}
	var pendingReports, jobsSinceReport int64
	if err := tx.QueryRowContext(ctx, `UPDATE agents SET completed_jobs = completed_jobs + 1, jobs_since_report = jobs_since_report + 1
		WHERE id = $1 RETURNING pending_reports, jobs_since_report`, j.ProviderID).Scan(&pendingReports, &jobsSinceReport); err != nil {
		return fmt.Errorf("count completed job: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET client_completed_jobs = client_completed_jobs + 1 WHERE id = $1`, j.ClientID); err != nil {
		return fmt.Errorf("count completed job: %w", err)
	}
	return tx.recoverFromReports(ctx, j.ProviderID, pendingReports, jobsSinceReport)
}

// notifyJob records the event a job's change of status sends to the other party.
func (tx *Tx) notifyJob(ctx context.Context, j *justpay.Job, from string) error {
	var event, to string
	switch j.Status {
	case justpay.JobAccepted:
		if from == justpay.JobOpenState {
			event, to = "job.assigned", j.ProviderID
		}
	case justpay.JobDelivered:
		event, to = "job.delivered", j.ClientID
	case justpay.JobCompleted:
		event, to = "job.completed", j.ProviderID
	case justpay.JobCancelled:
		event, to = "job.cancelled", j.ProviderID
	case justpay.JobExpired:
		event, to = "job.expired", j.ClientID
	}
	if event == "" || to == "" {
		return nil
	}
	return tx.recordJobEvent(ctx, to, event, j, nil)
}

// recordJobEvent records event about j for to, one of its parties, in the job events' shape
// (jobEventData, with to's role) plus extra.
func (tx *Tx) recordJobEvent(ctx context.Context, to, event string, j *justpay.Job, extra map[string]any) error {
	role := "provider"
	if to == j.ClientID {
		role = "client"
	}
	return tx.recordEvent(ctx, to, event, jobEventData(j, role, extra))
}

// promoteQueued starts the service's oldest queued jobs while it has free slots. It waits for a
// queued job's row lock rather than skipping it, so the oldest always goes first; this cannot
// deadlock because the promoting transaction holds no agent or balance rows yet (lock order).
func (tx *Tx) promoteQueued(ctx context.Context, serviceID string) error {
	svc, err := tx.findService(ctx, serviceID, true)
	if err != nil {
		return err
	}
	running, queued, err := tx.serviceLoad(ctx, serviceID)
	if err != nil {
		return err
	}
	for running < svc.MaxConcurrentJobs && queued > 0 {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE service_id = $1 AND status = $2 ORDER BY created_at, id LIMIT 1`,
			serviceID, justpay.JobQueued).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("find queued job: %w", err)
		}
		j, err := tx.findJob(ctx, id, true)
		if err != nil {
			return err
		}
		if j.Status != justpay.JobQueued { // cancelled while we waited for its lock: look again
			queued--
			continue
		}
		j.Status = startStatus(svc)
		tx.setDeadline(j, svc)
		if err := tx.saveJob(ctx, j, justpay.JobQueued); err != nil {
			return err
		}
		client, err := tx.findAgent(ctx, j.ClientID, false)
		if err != nil {
			return err
		}
		if err := tx.recordJobCreated(ctx, j, client); err != nil {
			return err
		}
		running, queued = running+1, queued-1
	}
	return nil
}

// recordJobCreated tells a direct job's provider of it, with the client's reputation: when the
// job is created and again when it leaves the queue.
func (tx *Tx) recordJobCreated(ctx context.Context, j *justpay.Job, client *justpay.Agent) error {
	return tx.recordEvent(ctx, j.ProviderID, "job.created", jobEventData(j, "provider", map[string]any{
		"clientReputation": map[string]any{"agentId": client.ID, "trustScore": client.TrustScore(),
			"totalDisputesFiled": client.DisputesFiled, "clientDisputeRate": math.Round(client.ClientDisputeRate()*1000) / 1000,
			"clientRestricted": client.ClientRestricted(), "jobsCompleted": client.ClientCompletedJobs},
	}))
}

func jobEventData(j *justpay.Job, role string, extra map[string]any) map[string]any {
	d := map[string]any{"jobId": j.ID, "status": j.Status, "role": role, "clientAgentId": j.ClientID,
		"providerAgentId": j.ProviderID, "amount": justpay.FormatMicro(j.Amount)}
	if j.Status == justpay.JobDelivered && j.AcceptedAt != nil {
		d["executionTimeSecs"] = int(j.DeliveredAt.Sub(*j.AcceptedAt).Seconds())
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// RunDueJobs applies every job deadline that has passed. See justpay.JobService.
func (s *Store) RunDueJobs(ctx context.Context) (int, error) {
	return s.runDue(ctx, `SELECT id FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, id LIMIT 100`,
		once(s.timeoutJob))
}

// timeoutJob applies one job's passed deadline, if it is still due when locked: a user action
// that got there first wins and the timeout does nothing.
func (s *Store) timeoutJob(ctx context.Context, id string) (bool, error) {
	applied := false
	err := s.update(ctx, func(tx *Tx) error {
		applied = false
		j, err := tx.findJob(ctx, id, true)
		if err != nil {
			return err
		}
		if j.ExpiresAt == nil || j.ExpiresAt.After(tx.now) {
			return nil
		}
		from := j.Status
		finish(tx, j, j.Timeout())
		applied = true
		return tx.commitJob(ctx, j, from)
	})
	return applied, err
}

// FindJobByID returns a job its client or provider may see. See justpay.JobService.
func (s *Store) FindJobByID(ctx context.Context, agentID, id string) (*justpay.Job, error) {
	var job *justpay.Job
	err := s.view(ctx, func(tx *Tx) error {
		j, err := tx.findJob(ctx, id, false)
		if err != nil {
			return err
		}
		if agentID == "" || (agentID != j.ClientID && agentID != j.ProviderID) {
			return justpay.Errorf(justpay.ENOTFOUND, "job not found")
		}
		if j.Type == justpay.JobOpen && agentID == j.ClientID {
			if j.Applications, err = tx.findApplications(ctx, j.ID); err != nil {
				return err
			}
		}
		if j.Dispute, err = tx.findJobDispute(ctx, j.ID); err != nil {
			return err
		}
		if j.Client, err = tx.findAgent(ctx, j.ClientID, false); err != nil {
			return err
		}
		if j.ProviderID != "" {
			if j.Provider, err = tx.findAgent(ctx, j.ProviderID, false); err != nil {
				return err
			}
		}
		job = j
		return nil
	})
	return job, err
}

// FindJobs lists the agent's jobs. See justpay.JobService.
func (s *Store) FindJobs(ctx context.Context, agentID string, f justpay.JobFilter) ([]*justpay.Job, int, error) {
	if err := f.Page.Validate(); err != nil {
		return nil, 0, err
	}
	if err := justpay.ValidateFilter("status", f.Status, justpay.JobStatuses); err != nil {
		return nil, 0, err
	}
	where := `(client_id = $1 OR provider_id = $1)`
	switch f.Role {
	case "client":
		where = `client_id = $1`
	case "provider":
		where = `provider_id = $1`
	case "":
	default:
		return nil, 0, justpay.Errorf(justpay.EINVALID, `role must be "client" or "provider"`)
	}
	return readPage(ctx, s.DB, listQuery{what: "jobs", columns: jobColumns,
		from: `FROM jobs WHERE ` + where + ` AND ($2 = '' OR status = $2)`, order: `created_at DESC, id DESC`,
		args: []any{agentID, f.Status}}, f.Page, scanJob)
}

// FindOpenJobs lists open jobs still taking applications. See justpay.JobService.
func (s *Store) FindOpenJobs(ctx context.Context, category string, p justpay.Page) ([]*justpay.OpenJobListing, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	if err := justpay.ValidateText("category", category, 50); err != nil {
		return nil, 0, err
	}
	var out []*justpay.OpenJobListing
	var total int
	err := s.view(ctx, func(tx *Tx) error {
		jobs, n, err := findPage(ctx, tx, listQuery{what: "open jobs", columns: jobColumns,
			from:  `FROM jobs WHERE status = 'open' AND expires_at > $1 AND ($2 = '' OR category = $2)`,
			order: `created_at DESC, id DESC`, args: []any{tx.now, category}}, p, scanJob)
		if err != nil {
			return err
		}
		total, out = n, make([]*justpay.OpenJobListing, 0, len(jobs))
		for _, j := range jobs {
			client, err := tx.findAgent(ctx, j.ClientID, false)
			if err != nil {
				return err
			}
			out = append(out, &justpay.OpenJobListing{Job: j, Client: client})
		}
		return nil
	})
	return out, total, err
}

// ApplyToJob applies to an open job. See justpay.JobService.
func (s *Store) ApplyToJob(ctx context.Context, agentID, id, message string) (*justpay.Application, error) {
	if err := justpay.ValidateText("message", message, justpay.MaxApplicationMessageLen); err != nil {
		return nil, err
	}
	var app *justpay.Application
	err := s.update(ctx, func(tx *Tx) error {
		j, err := tx.findJob(ctx, id, true)
		if err != nil {
			return err
		}
		if err := j.CheckAction(justpay.ActionApply, agentID, tx.now); err != nil {
			return err
		}
		a := &justpay.Application{ID: justpay.NewID(tx.now), JobID: id, AgentID: agentID, Message: message,
			Status: justpay.ApplicationPending, CreatedAt: tx.now}
		_, err = tx.ExecContext(ctx, `INSERT INTO job_applications (id, job_id, agent_id, message, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, id, agentID, message, a.Status, tx.now)
		if tx.db.dialect.isUnique(err) {
			return justpay.Errorf(justpay.ECONFLICT, "you already applied to this job")
		} else if err != nil {
			return fmt.Errorf("insert application: %w", err)
		}
		agent, err := tx.findAgent(ctx, agentID, false)
		if err != nil {
			return err
		}
		a.AgentName, a.TrustScore, a.JobsDone = agent.Name, agent.TrustScore(), agent.CompletedJobs
		app = a
		return nil
	})
	return app, err
}

// AcceptApplication assigns an applicant to the client's open job. See justpay.JobService.
func (s *Store) AcceptApplication(ctx context.Context, clientID, jobID, applicationID string) (*justpay.Job, error) {
	return s.act(ctx, clientID, jobID, justpay.ActionAssign, func(tx *Tx, j *justpay.Job) error {
		var applicant, status string
		err := tx.QueryRowContext(ctx, `SELECT agent_id, status FROM job_applications WHERE id = $1 AND job_id = $2`, applicationID, jobID).Scan(&applicant, &status)
		if errors.Is(err, sql.ErrNoRows) || !justpay.IsID(applicationID) {
			return justpay.Errorf(justpay.ENOTFOUND, "application not found")
		} else if err != nil {
			return fmt.Errorf("find application: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE job_applications SET status = CASE WHEN id = $1 THEN $2 ELSE $3 END WHERE job_id = $4`,
			applicationID, justpay.ApplicationAccepted, justpay.ApplicationRejected, jobID); err != nil {
			return fmt.Errorf("update applications: %w", err)
		}
		j.ProviderID, j.Status = applicant, justpay.JobAccepted
		tx.setDeadline(j, nil)
		return nil
	})
}

func (tx *Tx) findApplications(ctx context.Context, jobID string) ([]*justpay.Application, error) {
	return queryAll(ctx, tx, "applications", `SELECT p.id, p.job_id, p.agent_id, p.message, p.status, p.created_at, `+prefixed("a", agentColumns)+`
		FROM job_applications p JOIN agents a ON a.id = p.agent_id WHERE p.job_id = $1 ORDER BY p.created_at, p.id`, []any{jobID},
		func(row scanner) (*justpay.Application, error) {
			var p justpay.Application
			agent, err := scanAgent(scanPrefix{row, []any{&p.ID, &p.JobID, &p.AgentID, &p.Message, &p.Status, &p.CreatedAt}})
			if err != nil {
				return nil, err
			}
			p.CreatedAt = p.CreatedAt.UTC()
			p.AgentName, p.TrustScore, p.JobsDone = agent.Name, agent.TrustScore(), agent.CompletedJobs
			return &p, nil
		})
}

// RateJob rates the other party of a completed job. See justpay.JobService.
func (s *Store) RateJob(ctx context.Context, raterID, jobID string, nr justpay.NewRating) (*justpay.Rating, error) {
	if err := nr.Validate(); err != nil {
		return nil, err
	}
	if nr.Tags == nil {
		nr.Tags = []string{}
	}
	tags, err := json.Marshal(nr.Tags)
	if err != nil {
		return nil, err
	}
	var rating *justpay.Rating
	err = s.update(ctx, func(tx *Tx) error {
		j, err := tx.findJob(ctx, jobID, false)
		if err != nil {
			return err
		}
		if err := j.CheckAction(justpay.ActionRate, raterID, tx.now); err != nil {
			return err
		}
		r := &justpay.Rating{ID: justpay.NewID(tx.now), JobID: jobID, RaterID: raterID, RateeID: j.ProviderID,
			Score: nr.Score, Comment: nr.Comment, Tags: nr.Tags, CreatedAt: tx.now}
		if raterID == j.ProviderID {
			r.RateeID = j.ClientID
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ratings (id, job_id, rater_id, ratee_id, score, comment, tags, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, jobID, raterID, r.RateeID, r.Score, r.Comment, string(tags), tx.now)
		if tx.db.dialect.isUnique(err) {
			return justpay.Errorf(justpay.ECONFLICT, "you already rated this job")
		} else if err != nil {
			return fmt.Errorf("insert rating: %w", err)
		}
		// A service's rating is what its clients gave. Service before agent: the lock order.
		if j.ServiceID != "" && raterID == j.ClientID {
			if _, err := tx.ExecContext(ctx, `UPDATE services SET rating_count = rating_count + 1, rating_sum = rating_sum + $1 WHERE id = $2`, r.Score, j.ServiceID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET rating_count = rating_count + 1, rating_sum = rating_sum + $1 WHERE id = $2`, r.Score, r.RateeID); err != nil {
			return err
		}
		rating = r
		return nil
	})
	return rating, err
}

// FindRatings lists the ratings an agent received. See justpay.JobService.
func (s *Store) FindRatings(ctx context.Context, agentID string, p justpay.Page) ([]*justpay.Rating, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	return readPage(ctx, s.DB, listQuery{what: "ratings",
		columns: `r.id, r.job_id, r.rater_id, a.name, r.ratee_id, r.score, r.comment, r.tags, r.created_at`,
		from:    `FROM ratings r JOIN agents a ON a.id = r.rater_id WHERE r.ratee_id = $1`,
		order:   `r.created_at DESC, r.id DESC`, args: []any{agentID}}, p, scanRating)
}

func scanRating(row scanner) (*justpay.Rating, error) {
	var r justpay.Rating
	var tags string
	if err := row.Scan(&r.ID, &r.JobID, &r.RaterID, &r.RaterName, &r.RateeID, &r.Score, &r.Comment, &tags, &r.CreatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
		return nil, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return &r, nil
}
