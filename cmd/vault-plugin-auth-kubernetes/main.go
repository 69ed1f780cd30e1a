// Command vault-plugin-auth-kubernetes serves the Kubernetes auth method to
// Vault as an external plugin.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/plugin"

	kubeauth "github.com/kubeauth/vault-plugin-auth-kubernetes"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/fips"
)

// newLogger is the plugin's logger. Vault decides what of the plugin's log
// is shown: it reads each JSON line the plugin writes to stderr and logs it
// through its own logger, which drops lines below Vault's log level
// (log_level, -log-level, sys/loggers). Vault does not tell the plugin that
// level, so the plugin writes every level and Vault filters; a fixed Info
// here would hide the plugin's debug lines from a Vault running at debug.
func newLogger(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "kubeauth", JSONFormat: true, Level: hclog.Trace, Output: w})
}

func main() {
	flags := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	showVersion := flags.Bool("version", false, "print the plugin version and exit")
	installDir := flags.String("install", "", "copy this binary into `DIR` (Vault's plugin_directory) as "+installName+", print its SHA-256 and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Print(versionText(kubeauth.Version, fips.Current()))
		return
	}
	if isFlagSet(flags, "install") {
		if err := runInstall(*installDir, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "install:", err)
			os.Exit(1)
		}
		return
	}

	logger := newLogger(os.Stderr)
	logFIPSMode(logger, fips.Current())
	if v := os.Getenv(pprofAddrEnv); v != "" {
		addr, err := pprofListenAddr(v)
		if err != nil {
			logger.Error("plugin not started", "error", err)
			os.Exit(1)
		}
		startPprof(addr, logger)
	}
	go watchParent(os.Getppid, parentCheckInterval, nil, func(oldParent, newParent int) {
		logger.Warn("the Vault process that started this plugin is gone; exiting", "vault_pid", oldParent, "new_parent_pid", newParent)
		os.Exit(1)
	})
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: kubeauth.Factory,
		Logger:             logger,
	}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}

// isFlagSet reports whether the command line set the flag, even to "".
func isFlagSet(flags *flag.FlagSet, name string) bool {
	set := false
	flags.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
