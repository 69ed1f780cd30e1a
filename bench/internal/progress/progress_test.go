package progress

import (
	"slices"
	"testing"
)

// The report lists the notes in the order they were found, formatted.
func TestNotesKeepOrder(t *testing.T) {
	var n Notes
	n.Add("first %d", 1)
	n.Add("second")
	if got := n.List(); !slices.Equal(got, []string{"first 1", "second"}) {
		t.Errorf("notes = %q", got)
	}
	var none *Notes
	if none.List() != nil {
		t.Error("a nil Notes lists something")
	}
}
