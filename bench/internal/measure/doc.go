// Package measure holds the instruments loginbench reads around its runs,
// none of which adds work to the processes measured: the API server's
// TokenReview count from its /metrics, each stack process's CPU time from
// /proc, and CPU profiles (fetched over HTTP, summed into the parts of the
// login path, and listed by go tool pprof).
package measure
