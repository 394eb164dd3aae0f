package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
)

// dialect is everything that differs between SQLite and PostgreSQL outside the DDL: the statements
// themselves are shared ($1 placeholders, ON CONFLICT and RETURNING work on both).
type dialect struct {
	name  string
	goose goose.Dialect
	// forUpdate is appended to a SELECT that must lock its rows until commit. On PostgreSQL it is
	// FOR NO KEY UPDATE: no code changes a key, and unlike FOR UPDATE it does not conflict with the
	// KEY SHARE lock an insert referencing the row takes, so two transactions that each lock one
	// agent and insert a row referencing the other cannot deadlock. SQLite needs none:
	// its single writer already serializes every write transaction.
	forUpdate string
	// skipLocked is appended to a SELECT of work items so that several workers take different rows.
	skipLocked string
	// snapshotOptions start a read transaction that sees one consistent snapshot.
	snapshotOptions *sql.TxOptions
	// writableCTE: the database runs INSERT inside WITH, so a ledger transaction's row and its
	// postings go in one statement.
	writableCTE bool
	// errCode maps a driver error to a portable code, or "" when it is none of them.
	errCode func(error) string
	// jsonArrayHas is the condition that the JSON array of strings in column holds the string
	// param (a placeholder).
	jsonArrayHas func(column, param string) string
}

// Portable codes for the constraint and concurrency errors the store reacts to.
const (
	codeUnique        = "unique"
	codeCheck         = "check"
	codeSerialization = "serialization"
	codeBadText       = "bad_text"
)

// SQLite's own lower() folds ASCII letters only; PostgreSQL's folds every letter (in a UTF-8
// database), so searches that compare LOWER(column) with a lowered query would find "École" for
// "école" on one database and not on the other. This lower() replaces SQLite's on every
// connection the driver opens.
func init() {
	if err := sqlite.RegisterDeterministicScalarFunction("lower", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case nil:
			return nil, nil
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		default: // numbers, as SQLite's lower() turns them into text
			return strings.ToLower(fmt.Sprint(v)), nil
		}
	}); err != nil {
		panic(err)
	}
}

var sqliteDialect = dialect{
	name:            "sqlite",
	goose:           goose.DialectSQLite3,
	snapshotOptions: &sql.TxOptions{ReadOnly: true},
	errCode: func(err error) string {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return ""
		}
		switch e.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return codeUnique
		case 275: // SQLITE_CONSTRAINT_CHECK
			return codeCheck
		case 5, 517, 6: // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED
			return codeSerialization
		}
		return ""
	},
	jsonArrayHas: func(column, param string) string {
		return `EXISTS (SELECT 1 FROM json_each(` + column + `) WHERE value = ` + param + `)`
	},
}

var postgresDialect = dialect{
	name:            "postgres",
	goose:           goose.DialectPostgres,
	forUpdate:       " FOR NO KEY UPDATE",
	skipLocked:      " FOR UPDATE SKIP LOCKED",
	writableCTE:     true,
	snapshotOptions: &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	errCode: func(err error) string {
		var e *pgconn.PgError
		if !errors.As(err, &e) {
			return ""
		}
		switch e.Code {
		case "23505":
			return codeUnique
		case "23514":
			return codeCheck
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return codeSerialization
		case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
			return codeBadText
		}
		return ""
	},
	jsonArrayHas: func(column, param string) string { return column + ` ? ` + param }, // jsonb: a top-level string
}

func (d dialect) retryable(err error) bool { return d.errCode(err) == codeSerialization }

func (d dialect) isUnique(err error) bool { return d.errCode(err) == codeUnique }
