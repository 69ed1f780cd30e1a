package realstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The stack's kube-apiserver is started by stack-up.sh; the API servers a
// suite starts itself take its command line, read back from /proc, and
// change only the flags they must, so the two never drift apart.

// readAPIServerArgv reads the stack apiserver's command line.
func (s *Stack) readAPIServerArgv() error {
	pid, err := RecordedPID(filepath.Join(s.StackDir, "kube-apiserver.pid"))
	if err != nil {
		return err
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Errorf("reading the stack apiserver's command line: %w", err)
	}
	s.APIServerArgv = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	return nil
}

// Flag is one command-line flag ("--secure-port") and its value.
type Flag struct{ Name, Value string }

// HasFlag reports whether argv sets the flag, as "--flag value" or
// "--flag=value".
func HasFlag(argv []string, name string) bool {
	for _, arg := range argv[min(1, len(argv)):] {
		if n, _, _ := strings.Cut(arg, "="); n == name {
			return true
		}
	}
	return false
}

// ReplaceFlags is argv without every flag named in drop or in set, with
// set's flags appended in order. A flag is read as "--flag=value" or as
// "--flag value": every flag of the stack's apiserver takes a value.
func ReplaceFlags(argv []string, drop []string, set ...Flag) []string {
	if len(argv) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, n := range drop {
		gone[n] = true
	}
	for _, f := range set {
		gone[f.Name] = true
	}
	out := []string{argv[0]}
	for i := 1; i < len(argv); i++ {
		name, _, inline := strings.Cut(argv[i], "=")
		if gone[name] {
			if !inline {
				i++ // the value is the next word
			}
			continue
		}
		out = append(out, argv[i])
	}
	for _, f := range set {
		out = append(out, f.Name, f.Value)
	}
	return out
}
