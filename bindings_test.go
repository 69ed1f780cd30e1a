package kubeauth

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestMatchesAny(t *testing.T) {
	cases := []struct {
		patterns []string
		value    string
		want     bool
	}{
		{[]string{"*"}, "anything", true},
		{[]string{"web"}, "web", true},
		{[]string{"web"}, "web2", false},
		{[]string{"web-*"}, "web-1", true},
		{[]string{"*-prod"}, "team-prod", true},
		{[]string{"a*z"}, "abcz", true},
		{[]string{"a*z"}, "abc", false},
		{nil, "web", false},
	}
	for _, tc := range cases {
		if got := matchesAny(tc.patterns, tc.value); got != tc.want {
			t.Errorf("matchesAny(%q, %q) = %v", tc.patterns, tc.value, got)
		}
	}
}

func TestParseNamespaceSelector(t *testing.T) {
	cases := []struct {
		in      string
		matches labels.Set
		misses  labels.Set
	}{
		{`{"matchLabels":{"env":"prod"}}`, labels.Set{"env": "prod", "x": "y"}, labels.Set{"env": "dev"}},
		{"matchLabels:\n  env: prod\n", labels.Set{"env": "prod"}, labels.Set{}},
		{`{"matchExpressions":[{"key":"env","operator":"NotIn","values":["dev"]}]}`, labels.Set{"env": "prod"}, labels.Set{"env": "dev"}},
		{`{"matchExpressions":[{"key":"vault","operator":"Exists"}]}`, labels.Set{"vault": ""}, labels.Set{"other": "x"}},
	}
	for _, tc := range cases {
		sel, err := parseNamespaceSelector(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if !sel.Matches(tc.matches) || sel.Matches(tc.misses) {
			t.Errorf("%s: selector %q matched wrongly", tc.in, sel)
		}
	}
}

// A role without a selector binds no namespace through it, whatever the
// namespace's labels; an empty string must never read as "select all".
func TestRoleWithoutSelectorSelectsNothing(t *testing.T) {
	r := &roleEntry{}
	sel, err := r.selector()
	if err != nil {
		t.Fatal(err)
	}
	if sel.Empty() || sel.Matches(labels.Set{}) || sel.Matches(labels.Set{"a": "b"}) {
		t.Fatalf("selector %q of a role without one matches", sel)
	}
}
