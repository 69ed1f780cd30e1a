// Package progress is what loginbench tells its operator while it runs, on
// standard error, and the notes it keeps for the report: facts found along
// the way that change how the numbers read (a target that issued a service
// token, a token pool cut short).
package progress

import (
	"fmt"
	"os"
	"time"
)

// Printf writes one timestamped line to standard error; standard output
// carries the report alone, so it can go into BENCHMARKS.md as is.
func Printf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Notes are the facts the report lists under its header. The zero value is
// ready to use; setup and the rounds add to it one after the other, never
// at once.
type Notes struct {
	list []string
}

// Add keeps a note and prints it at once.
func (n *Notes) Add(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.list = append(n.list, msg)
	Printf("NOTE: %s", msg)
}

// List is every note, in the order they were added.
func (n *Notes) List() []string {
	if n == nil {
		return nil
	}
	return n.list
}
