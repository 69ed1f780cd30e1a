// Package soak is `make soak`: one Vault with the plugin, an HA pair of
// kube-apiservers on one etcd and a second cluster, a steady mix of logins
// and writes for SOAK_DURATION while a schedule of faults runs, and a report
// (markdown and an SVG chart) that fails the run on a wrong answer, a
// resource of the plugin process that keeps growing, or logins that do not
// recover in time after a fault.
//
// The rules are pure and unit-tested on their own: the fault timeline
// (schedule.go), which answer each login must get at each moment
// (oracle.go), leak and recovery judgements (verdict.go), the /proc parsers
// (sampler.go) and the report (report.go, chart.go). TestSoak runs them on
// the real stack only when SOAK_DURATION is set.
package soak
