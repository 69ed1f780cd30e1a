package sums

import (
	"bytes"
	"strings"
	"testing"
)

var digest = strings.Repeat("ab", 32)

// What sha256sum would not check as written is refused, naming the line.
func TestParseRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"one space":          digest + " a.zip\n",
		"short digest":       digest[:10] + "  a.zip\n",
		"upper-case digest":  strings.ToUpper(digest) + "  a.zip\n",
		"no name":            digest + "  \n",
		"absolute":           digest + "  /etc/passwd\n",
		"climbs out":         digest + "  ../a.zip\n",
		"climbs out later":   digest + "  x/../../a.zip\n",
		"listed twice":       digest + "  a.zip\n" + digest + "  a.zip\n",
		"blank line between": digest + "  a.zip\n\n" + digest + "  b.zip\n",
		"empty":              "",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: %v, want an error naming the line", name, err)
		}
	}
}

func TestFormatParse(t *testing.T) {
	s := Sums{"b.zip": digest, "a/x": strings.Repeat("cd", 32)}
	raw := Format(s)
	if want := strings.Repeat("cd", 32) + "  a/x\n" + digest + "  b.zip\n"; string(raw) != want {
		t.Fatalf("Format: %q, want %q", raw, want)
	}
	got, err := Parse(raw)
	if err != nil || len(got) != 2 || got["b.zip"] != digest {
		t.Fatalf("Parse(Format): %v, %v", got, err)
	}
}

// A SHA256SUMS file from a download is untrusted: whatever Parse accepts
// names files inside the directory, and writes back as the same bytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte(digest + "  a.zip\n"))
	f.Add([]byte(digest + "  dir/a\n" + digest + "  b\n"))
	f.Add([]byte(digest + "  ../x\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Parse(raw)
		if err != nil {
			return
		}
		for name := range s {
			if strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "/../") {
				t.Fatalf("accepted %q", name)
			}
		}
		again, err := Parse(Format(s))
		if err != nil || !bytes.Equal(Format(again), Format(s)) {
			t.Fatalf("Format(Parse) does not parse back: %v", err)
		}
	})
}
