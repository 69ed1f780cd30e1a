package testkit

import "time"

// Eventually polls cond every 10 ms until it holds, and reports whether it
// did within the bound: for what the code under test does in the
// background, which a test can only wait for.
func Eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
