// Package testkit is what the plugin's tests share across packages: the
// fixtures in the repository's testdata/, service-account tokens signed
// with them, a settable clock and a log sink safe for concurrent writers.
// Only _test.go files import it, so none of it is in the plugin binary.
package testkit
