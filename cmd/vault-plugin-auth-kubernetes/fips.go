package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/fips"
)

// versionText is what -version prints: the version alone on its first line,
// as scripts and the image check read it, and, for a FIPS 140-3 build or a
// process with the mode on, a second line with the module and the setting.
func versionText(version string, m fips.Mode) string {
	if m.Module == "" && !m.Enabled {
		return version + "\n"
	}
	return version + "\n" + m.Describe() + "\n"
}

// logFIPSMode says once, at start, whether FIPS 140-3 mode is on, with
// which module, so an operator reads it in Vault's log.
func logFIPSMode(logger hclog.Logger, m fips.Mode) {
	module := m.Module
	if module == "" {
		module = "none"
	}
	logger.Info("FIPS 140-3 mode", "fips140", m.Setting(), "gofips140", module)
}
