package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The kubelet rewrites the token file in place: a new token is used from
// the next call on, and a file that is gone or empty is an error, never
// an empty bearer token.
func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	f := NewTokenFile(path)
	if _, err := f.Token(""); err == nil {
		t.Fatal("a missing file gave a token")
	}
	for _, token := range []string{"first", "second-longer"} {
		if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := f.Token("the-login-jwt"); err != nil || got != token {
			t.Fatalf("Token() = %q, %v; want %q", got, err, token)
		}
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Token(""); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("an empty file: %v", err)
	}
	if f.Path() != path || !strings.Contains(f.String(), path) {
		t.Fatalf("Path %q, String %q", f.Path(), f.String())
	}
}

func TestStaticAndLoginJWT(t *testing.T) {
	if got, _ := StaticToken("reviewer").Token("the-login-jwt"); got != "reviewer" {
		t.Fatalf("StaticToken gave %q", got)
	}
	if got, _ := (LoginJWT{}).Token("the-login-jwt"); got != "the-login-jwt" {
		t.Fatalf("LoginJWT gave %q", got)
	}
}
