package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// patch builds a partial UPDATE: updated_at, then each column whose new value is present.
type patch struct {
	sets []string
	args []any
}

func newPatch() *patch { return &patch{sets: []string{"updated_at = $1"}, args: []any{nil}} }

// set adds column = v.
func (p *patch) set(column string, v any) {
	p.args = append(p.args, v)
	p.sets = append(p.sets, fmt.Sprintf("%s = $%d", column, len(p.args)))
}

// text adds column = *v when v is present.
func (p *patch) text(column string, v *string) {
	if v != nil {
		p.set(column, *v)
	}
}

// list adds column = the JSON array *v when v is present (a nil list is stored as []).
func (p *patch) list(column string, v *[]string) error {
	if v == nil {
		return nil
	}
	items := *v
	if items == nil {
		items = []string{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return err
	}
	p.set(column, string(b))
	return nil
}

// exec runs the update of table's row id in tx, stamped with the transaction's time.
func (p *patch) exec(ctx context.Context, tx *Tx, table, id string) (sql.Result, error) {
	args := append([]any{tx.now}, p.args[1:]...)
	return tx.ExecContext(ctx, `UPDATE `+table+` SET `+strings.Join(p.sets, ", ")+fmt.Sprintf(` WHERE id = $%d`, len(args)+1), append(args, id)...)
}
