package logcut

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzLogDetail: whatever a detail holds, a JSON log line holds at most
// DetailMax bytes of it, and a detail within the bound is whole.
func FuzzLogDetail(f *testing.F) {
	for _, s := range []string{"", "plain", strings.Repeat("<", 600), strings.Repeat("\x01", 600), strings.Repeat("é", 600), "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cut := Detail(s)
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(cut); err != nil {
			t.Fatal(err)
		}
		marker := len(fmt.Sprintf("...(cut, %d bytes)", len(s)))
		if n := buf.Len() - 3; n > DetailMax+marker { // the quotes and the newline
			t.Fatalf("%d bytes in JSON for a %d-byte detail", n, len(s))
		}
		if cut != s && !strings.HasSuffix(cut, fmt.Sprintf("...(cut, %d bytes)", len(s))) {
			t.Fatalf("cut without saying so: %q", cut)
		}
		var whole bytes.Buffer
		_ = json.NewEncoder(&whole).Encode(s)
		if whole.Len()-3 <= DetailMax && cut != s {
			t.Fatalf("a detail of %d JSON bytes was cut", whole.Len()-3)
		}
	})
}
