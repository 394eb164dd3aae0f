// Package justpay holds the domain of the justpay marketplace: its types, its error codes, the
// business rules that do not need a database (validation, fee math, state decisions), the service
// interfaces the HTTP layer calls and the clock. It imports only the standard library; each outside
// dependency lives in a package of its own named after it (sqlstore, httpapi, devchain, ...).
package justpay
