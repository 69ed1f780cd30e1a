package kube

import (
	"strings"
	"testing"
)

// kubernetes_host forms: what is accepted, the URL the client calls, and
// why the rest is refused (the error names the field, for a 400 as is).
func TestHost(t *testing.T) {
	for host, url := range map[string]string{
		"kube.example":              "https://kube.example",
		"kube.example:6443":         "https://kube.example:6443",
		"https://kube.example:6443": "https://kube.example:6443",
		"https://10.0.0.1":          "https://10.0.0.1",
		"http://127.0.0.1:8080":     "http://127.0.0.1:8080",
		"https://[::1]:6443/":       "https://[::1]:6443",
		" kube.example// ":          "https://kube.example",
	} {
		if err := ValidateHost(strings.TrimSpace(host)); err != nil {
			t.Errorf("%q refused: %v", host, err)
		}
		if got := NormalizeHost(host); got != url {
			t.Errorf("NormalizeHost(%q) = %q, want %q", host, got, url)
		}
	}
	for host, want := range map[string]string{
		"":                 "kubernetes_host: is required",
		"ftp://kube":       `kubernetes_host: "ftp://kube" must use https://`,
		"https://:6443":    `kubernetes_host: "https://:6443" has no host name`,
		"https://kube?x=1": "must not have a query or fragment",
		"https://kube#top": "must not have a query or fragment",
		"https://u:p@kube": "must not carry credentials",
		"kube:99999":       `kubernetes_host: "kube:99999" has an invalid port`,
		"kube:%zz":         `kubernetes_host: "kube:%zz" is not a valid host or URL`,
	} {
		if err := ValidateHost(host); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", host, err, want)
		}
	}
}

func TestValidateBearerToken(t *testing.T) {
	if err := ValidateBearerToken("eyJhbGciOi.eyJzdWIi.c2ln"); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"abc\ndef", "abc def", "abc\tdef", "abc\x7f"} {
		if err := ValidateBearerToken(token); err == nil {
			t.Errorf("%q accepted", token)
		}
	}
}
