package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/justpay/justpay"
)

var _ justpay.ServiceService = (*Store)(nil)

// CreateService lists a service for the agent. The schemas are compiled and the examples checked
// against them before the transaction, which only inserts. See justpay.ServiceService.
func (s *Store) CreateService(ctx context.Context, agentID string, f justpay.ServiceFields) (*justpay.Service, error) {
	if err := f.ValidateCreate(); err != nil {
		return nil, err
	}
	d := f.WithDefaults()
	docs := serviceDocs{d.InputSchema, d.OutputSchema, d.ExampleInput, d.ExampleOutput}
	if err := s.checkSchemas(f); err != nil {
		return nil, err
	}
	if err := s.checkExamples(docs); err != nil {
		return nil, err
	}
	tags, err := json.Marshal(*d.Tags)
	if err != nil {
		return nil, err
	}
	var svc *justpay.Service
	err = s.update(ctx, func(tx *Tx) error {
		agent, err := tx.findAgent(ctx, agentID, false)
		if err != nil {
			return err
		}
		if err := agent.CheckNotRestricted(); err != nil {
			return err
		}
		id := justpay.NewID(tx.now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO services (id, agent_id, name, description, category, tags,
			input_schema, output_schema, example_input, example_output, model, model_provider, price_per_job,
			max_execution_time_secs, auto_accept, max_concurrent_jobs, queue_enabled, max_queue_size,
			min_client_trust_score, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)`,
			id, agentID, *d.Name, *d.Description, *d.Category, string(tags),
			string(d.InputSchema), string(d.OutputSchema), jsonColumn(d.ExampleInput), jsonColumn(d.ExampleOutput),
			*d.Model, *d.ModelProvider, *d.PricePerJob, *d.MaxExecutionTimeSecs, *d.AutoAccept, *d.MaxConcurrentJobs,
			*d.QueueEnabled, *d.MaxQueueSize, *d.MinClientTrustScore, tx.now); err != nil {
			return fmt.Errorf("insert service: %w", err)
		}
		svc, err = tx.findService(ctx, id, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// serviceDocs are a service's JSON documents: its schemas and their examples (nil when none).
type serviceDocs struct {
	inputSchema, outputSchema, exampleInput, exampleOutput json.RawMessage
}

// checkSchemas compiles the schemas present in f: EINVALID naming the one that does not compile.
func (s *Store) checkSchemas(f justpay.ServiceFields) error {
	for _, sc := range []struct {
		name   string
		schema json.RawMessage
	}{{"inputSchema", f.InputSchema}, {"outputSchema", f.OutputSchema}} {
		if sc.schema == nil {
			continue
		}
		if err := s.schemas.Check(sc.schema); err != nil {
			return withPrefix(err, sc.name+": ")
		}
	}
	return nil
}

// checkExamples validates each example against its schema: EINVALID naming the example.
func (s *Store) checkExamples(d serviceDocs) error {
	for _, ex := range []struct {
		name, schemaName string
		schema, example  json.RawMessage
	}{
		{"exampleInput", "inputSchema", d.inputSchema, d.exampleInput},
		{"exampleOutput", "outputSchema", d.outputSchema, d.exampleOutput},
	} {
		if ex.example == nil {
			continue
		}
		if err := s.schemas.Validate(ex.schema, ex.example); err != nil {
			return withPrefix(err, ex.name+" does not match "+ex.schemaName+": ")
		}
	}
	return nil
}

// withPrefix puts prefix before the message of an EINVALID error; other errors pass unchanged.
func withPrefix(err error, prefix string) error {
	if justpay.ErrorCode(err) != justpay.EINVALID {
		return err
	}
	return justpay.Errorf(justpay.EINVALID, "%s%s", prefix, justpay.ErrorMessage(err))
}

// jsonColumn is the value of a nullable JSON column: NULL for an absent document.
func jsonColumn(doc json.RawMessage) any {
	if len(doc) == 0 || string(doc) == "null" {
		return nil
	}
	return string(doc)
}

// FindServiceByID returns a service, active or not. See justpay.ServiceService.
func (s *Store) FindServiceByID(ctx context.Context, id string) (*justpay.Service, error) {
	var svc *justpay.Service
	err := s.view(ctx, func(tx *Tx) (err error) {
		svc, err = tx.findService(ctx, id, false)
		return err
	})
	return svc, err
}

// serviceOrders are the ORDER BY clauses of the discovery sort orders. Ties go by ID, so pages
// never overlap; IDs grow with time, so the newest first also by ID.
var serviceOrders = map[string]string{
	justpay.SortPrice: `price_per_job, id`,
	// Unrated services last; NULLIF keeps PostgreSQL from dividing by zero.
	justpay.SortRating:        `rating_count = 0, CAST(rating_sum AS DOUBLE PRECISION) / NULLIF(rating_count, 0) DESC, id`,
	justpay.SortCompletedJobs: `completed_jobs DESC, id`,
	justpay.SortNewest:        `created_at DESC, id DESC`,
	"":                        `created_at DESC, id DESC`,
}

// FindServices lists one page of the active services matching the filter, and how many match.
// See justpay.ServiceService.
func (s *Store) FindServices(ctx context.Context, f justpay.ServiceFilter) ([]*justpay.Service, int, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, err
	}
	where := []string{"active"}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, eq := range []struct{ column, v string }{
		{"category", f.Category}, {"model", f.Model}, {"model_provider", f.ModelProvider},
	} {
		if eq.v != "" {
			where = append(where, eq.column+" = "+arg(eq.v))
		}
	}
	if f.Search != "" {
		// LOWER on both sides makes the match case-insensitive on both databases (SQLite's
		// LIKE would be already, PostgreSQL's is not); the user's text is matched literally.
		p := arg("%" + escapeLike(strings.ToLower(f.Search)) + "%")
		where = append(where, `(LOWER(name) LIKE `+p+` ESCAPE '\' OR LOWER(description) LIKE `+p+` ESCAPE '\')`)
	}
	for _, tag := range f.Tags {
		where = append(where, s.dialect.jsonArrayHas("tags", arg(tag)))
	}
	if f.MinPrice != nil {
		where = append(where, "price_per_job >= "+arg(*f.MinPrice))
	}
	if f.MaxPrice != nil {
		where = append(where, "price_per_job <= "+arg(*f.MaxPrice))
	}
	return readPage(ctx, s.DB, listQuery{what: "services", columns: serviceColumns,
		from: `FROM services WHERE ` + strings.Join(where, " AND "), order: serviceOrders[f.SortBy], args: args}, f.Page, scanService)
}

// escapeLike escapes the LIKE wildcards % and _ and the escape character \ itself.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// FindCategories counts active services per category, largest first, then by name.
// See justpay.ServiceService.
func (s *Store) FindCategories(ctx context.Context) ([]justpay.CategoryCount, error) {
	return queryAll(ctx, s.reader, "categories", `SELECT category, COUNT(*) FROM services WHERE active
		GROUP BY category ORDER BY COUNT(*) DESC, category`, nil, func(row scanner) (justpay.CategoryCount, error) {
		var c justpay.CategoryCount
		err := row.Scan(&c.Category, &c.Count)
		return c, err
	})
}

// UpdateService changes the fields present in f on the owner's service, active or not. New
// schemas are compiled before the transaction; inside it, whenever a schema or an example
// changes, the examples that the service will have are checked against the schemas it will have.
// See justpay.ServiceService.
func (s *Store) UpdateService(ctx context.Context, agentID, id string, f justpay.ServiceFields) (*justpay.Service, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "service not found")
	}
	if err := f.ValidateUpdate(); err != nil {
		return nil, err
	}
	if err := s.checkSchemas(f); err != nil {
		return nil, err
	}
	p := newPatch()
	for _, c := range []struct {
		column string
		v      *string
	}{{"name", f.Name}, {"description", f.Description}, {"category", f.Category}, {"model", f.Model}, {"model_provider", f.ModelProvider}} {
		p.text(c.column, c.v)
	}
	if err := p.list("tags", f.Tags); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		column string
		doc    json.RawMessage
	}{{"input_schema", f.InputSchema}, {"output_schema", f.OutputSchema}, {"example_input", f.ExampleInput}, {"example_output", f.ExampleOutput}} {
		if c.doc != nil {
			p.set(c.column, jsonColumn(c.doc)) // an example sent as null is removed
		}
	}
	for _, c := range []struct {
		column string
		v      any
		ok     bool
	}{
		{"price_per_job", deref(f.PricePerJob), f.PricePerJob != nil},
		{"max_execution_time_secs", deref(f.MaxExecutionTimeSecs), f.MaxExecutionTimeSecs != nil},
		{"auto_accept", deref(f.AutoAccept), f.AutoAccept != nil},
		{"max_concurrent_jobs", deref(f.MaxConcurrentJobs), f.MaxConcurrentJobs != nil},
		{"queue_enabled", deref(f.QueueEnabled), f.QueueEnabled != nil},
		{"max_queue_size", deref(f.MaxQueueSize), f.MaxQueueSize != nil},
		{"min_client_trust_score", deref(f.MinClientTrustScore), f.MinClientTrustScore != nil},
	} {
		if c.ok {
			p.set(c.column, c.v)
		}
	}
	docsChange := f.InputSchema != nil || f.OutputSchema != nil || f.ExampleInput != nil || f.ExampleOutput != nil
	var svc *justpay.Service
	err := s.update(ctx, func(tx *Tx) error {
		cur, err := tx.findOwnService(ctx, agentID, id)
		if err != nil {
			return err
		}
		if docsChange {
			if err := s.checkExamples(serviceDocs{
				inputSchema:   either(f.InputSchema, cur.InputSchema),
				outputSchema:  either(f.OutputSchema, cur.OutputSchema),
				exampleInput:  either(f.ExampleInput, cur.ExampleInput),
				exampleOutput: either(f.ExampleOutput, cur.ExampleOutput),
			}); err != nil {
				return err
			}
		}
		if _, err := p.exec(ctx, tx, "services", id); err != nil {
			return fmt.Errorf("update service: %w", err)
		}
		// More slots, or a queue switched on or off: queued jobs take any slot that is now free,
		// before a new job could take it ahead of them.
		if f.MaxConcurrentJobs != nil {
			if err := tx.promoteQueued(ctx, id); err != nil {
				return err
			}
		}
		svc, err = tx.findService(ctx, id, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// either returns the document an update sets (nil when it removes it), or else the current one.
func either(update, current json.RawMessage) json.RawMessage {
	if update == nil {
		return current
	}
	if string(update) == "null" {
		return nil
	}
	return update
}

// deref returns *p, or nil for a nil pointer.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// findOwnService reads and locks the agent's service: another agent's is ENOTFOUND, as if it
// did not exist.
func (tx *Tx) findOwnService(ctx context.Context, agentID, id string) (*justpay.Service, error) {
	svc, err := tx.findService(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if svc.AgentID != agentID {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "service not found")
	}
	return svc, nil
}

// DeactivateService takes the owner's service off the marketplace. The change is guarded by the
// service being active, so of two concurrent calls one gets ECONFLICT. See
// justpay.ServiceService.
func (s *Store) DeactivateService(ctx context.Context, agentID, id string) (*justpay.Service, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "service not found")
	}
	var svc *justpay.Service
	err := s.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE services SET active = FALSE, updated_at = $1
			WHERE id = $2 AND agent_id = $3 AND active`, tx.now, id, agentID)
		if err != nil {
			return fmt.Errorf("deactivate service: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// Not the agent's, or no longer active: say which without revealing others' services.
			var active bool
			err := tx.QueryRowContext(ctx, `SELECT active FROM services WHERE id = $1 AND agent_id = $2`, id, agentID).Scan(&active)
			if errors.Is(err, sql.ErrNoRows) {
				return justpay.Errorf(justpay.ENOTFOUND, "service not found")
			} else if err != nil {
				return fmt.Errorf("find service: %w", err)
			}
			return justpay.Errorf(justpay.ECONFLICT, "service is already inactive")
		}
		svc, err = tx.findService(ctx, id, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

const serviceColumns = `id, agent_id, name, description, category, tags, input_schema, output_schema, example_input, example_output,
	model, model_provider, price_per_job, max_execution_time_secs, auto_accept, max_concurrent_jobs, queue_enabled,
	max_queue_size, min_client_trust_score, active, completed_jobs, rating_count, rating_sum, created_at, updated_at`

func scanService(row scanner) (*justpay.Service, error) {
	var s justpay.Service
	var tags, in, out string
	var exIn, exOut sql.NullString
	err := row.Scan(&s.ID, &s.AgentID, &s.Name, &s.Description, &s.Category, &tags, &in, &out, &exIn, &exOut,
		&s.Model, &s.ModelProvider, &s.PricePerJob, &s.MaxExecutionTimeSecs, &s.AutoAccept, &s.MaxConcurrentJobs, &s.QueueEnabled,
		&s.MaxQueueSize, &s.MinClientTrustScore, &s.Active, &s.CompletedJobs, &s.RatingCount, &s.RatingSum, &s.CreatedAt, &s.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "service not found")
	} else if err != nil {
		return nil, fmt.Errorf("scan service: %w", err)
	}
	if err := json.Unmarshal([]byte(tags), &s.Tags); err != nil {
		return nil, fmt.Errorf("service %s tags: %w", s.ID, err)
	}
	s.InputSchema, s.OutputSchema = json.RawMessage(in), json.RawMessage(out)
	if exIn.Valid {
		s.ExampleInput = json.RawMessage(exIn.String)
	}
	if exOut.Valid {
		s.ExampleOutput = json.RawMessage(exOut.String)
	}
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return &s, nil
}

// findService reads a service; lock holds its row until commit on PostgreSQL.
func (tx *Tx) findService(ctx context.Context, id string, lock bool) (*justpay.Service, error) {
	if !justpay.IsID(id) {
		return nil, justpay.Errorf(justpay.ENOTFOUND, "service not found")
	}
	q := `SELECT ` + serviceColumns + ` FROM services WHERE id = $1`
	if lock {
		q += tx.db.dialect.forUpdate
	}
	return scanService(tx.QueryRowContext(ctx, q, id))
}
