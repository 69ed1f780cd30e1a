package main

import (
	"bytes"
	"strings"
	"testing"
)

// The plugin writes its debug and trace lines for Vault to filter by its
// own level; a plugin that dropped them itself would hide them from a Vault
// running at debug.
func TestLoggerLeavesFilteringToVault(t *testing.T) {
	var out bytes.Buffer
	logger := newLogger(&out)
	logger.Trace("a trace line")
	logger.Debug("a debug line")
	for _, want := range []string{`"@level":"trace","@message":"a trace line"`, `"@level":"debug","@message":"a debug line"`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("log lacks %s:\n%s", want, out.String())
		}
	}
}
