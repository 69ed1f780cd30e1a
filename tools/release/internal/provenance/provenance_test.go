package provenance

import (
	"strings"
	"testing"
)

var digest = strings.Repeat("ab", 32)

func statement(t *testing.T) []byte {
	t.Helper()
	raw, err := sample()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sample is a statement of a two-file release.
func sample() ([]byte, error) {
	return Encode(New(map[string]string{"b.zip": digest, "a": digest}, Source{Commit: "c0ffee", Clean: true},
		ExternalParameters{Version: "v1.0.0", Platforms: []string{"linux/amd64"}},
		InternalParameters{GoVersion: "go1.26.8", Builds: map[string]map[string]string{"a": {"GOOS": "linux"}}}))
}

// A statement is written the same every time (sorted subjects, no times)
// and reads back with its subjects, source and cleanliness.
func TestEncodeParse(t *testing.T) {
	raw := statement(t)
	if string(raw) != string(statement(t)) {
		t.Fatal("two statements of the same release differ")
	}
	st, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Subject) != 2 || st.Subject[0].Name != "a" || st.Subject[1].Digest["sha256"] != digest {
		t.Fatalf("subjects %+v", st.Subject)
	}
	dep := st.Predicate.BuildDefinition.ResolvedDependencies[0]
	if dep.Digest["gitCommit"] != "c0ffee" || dep.Annotations["treeClean"] != true {
		t.Fatalf("source %+v", dep)
	}
}

func TestParseRefuses(t *testing.T) {
	good := string(statement(t))
	for name, in := range map[string]string{
		"not JSON":          "{",
		"another type":      strings.Replace(good, StatementType, "https://in-toto.io/Statement/v0.1", 1),
		"another predicate": strings.Replace(good, PredicateType, "https://slsa.dev/provenance/v0.2", 1),
		"no subject":        `{"_type":"` + StatementType + `","predicateType":"` + PredicateType + `","subject":[]}`,
		"short digest":      strings.Replace(good, digest, "abc", 1),
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A downloaded statement is untrusted: whatever Parse accepts has a
// SHA-256 for every subject.
func FuzzParse(f *testing.F) {
	seed, err := sample()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"_type":"` + StatementType + `"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := Parse(raw)
		if err != nil {
			return
		}
		for _, s := range st.Subject {
			if len(s.Digest["sha256"]) != 64 || s.Name == "" {
				t.Fatalf("accepted subject %+v", s)
			}
		}
	})
}
