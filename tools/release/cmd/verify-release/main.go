// Command verify-release checks a downloaded release before it is
// installed, and prints one line per check and a verdict:
//
//	verify-release DIR [PUBLIC_KEY]
//
// DIR holds the release's files (SHA256SUMS and whichever of the rest were
// downloaded); PUBLIC_KEY is the maintainers' OpenPGP public key, armored
// or binary. Without PUBLIC_KEY no signature is checked and the verdict
// says so. The exit status is 0 only when no check failed; 2 for bad usage.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/verify"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: verify-release DIR [PUBLIC_KEY]")
		os.Exit(2)
	}
	key := ""
	if len(os.Args) == 3 {
		key = os.Args[2]
	}
	results, err := verify.Release(os.Args[1], key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify-release:", err)
		os.Exit(2)
	}
	os.Exit(report(os.Stdout, results, key != ""))
}

// report prints the results and the verdict, and returns the exit status.
func report(w io.Writer, results []verify.Result, keyGiven bool) int {
	failed, passed := 0, 0
	for _, r := range results {
		fmt.Fprintf(w, "%-4s %-10s %s\n", r.Status, r.Check, r.Detail)
		switch r.Status {
		case verify.Fail:
			failed++
		case verify.OK:
			passed++
		}
	}
	switch {
	case failed > 0:
		fmt.Fprintf(w, "REFUSED: %d of %d checks failed; do not install this release\n", failed, len(results))
		return 1
	case !keyGiven:
		fmt.Fprintf(w, "VERIFIED, UNSIGNED: %d checks passed, but no public key was given, so who made these files was not checked\n", passed)
	default:
		fmt.Fprintf(w, "VERIFIED: %d checks passed, signed by the given key\n", passed)
	}
	return 0
}
