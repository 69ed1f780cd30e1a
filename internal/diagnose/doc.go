// Package diagnose is config/check: each check is a function that takes
// what was observed of a cluster (and its settings) and returns a Result
// (passed, failed, warning or skipped, with a fix for a problem); Run makes
// the calls a cluster needs and runs the checks in order, skipping those
// whose precondition failed. Nothing here reads storage or knows the
// backend, so the checks are tested against plain values.
package diagnose
