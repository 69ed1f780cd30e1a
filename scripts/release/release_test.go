package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestReleaseRefusesVersionsVaultRejects(t *testing.T) {
	for _, v := range []string{"", "0.1.0", "v1.2", "v1.2.3.4", "latest"} {
		out := t.TempDir()
		if _, err := release("go", "../..", out, v, []platform{{"linux", "amd64"}}, ""); err == nil {
			t.Errorf("version %q accepted", v)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("version %q: wrote %d files", v, len(entries))
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := parsePlatforms("linux/amd64, darwin/arm64")
	if err != nil || len(got) != 2 || got[1] != (platform{"darwin", "arm64"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64"} {
		if _, err := parsePlatforms(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A FIPS build is named apart and built with GOFIPS140; the standard build
// of the same platform keeps its name and an environment without it.
func TestFIPSBuildsAreNamedApart(t *testing.T) {
	got := builds([]platform{{"linux", "amd64"}}, "v1.0.0")
	if len(got) != 2 {
		t.Fatalf("builds: %v", got)
	}
	if std := got[0].base("v1.2.3"); std != "vault-plugin-auth-kubernetes_1.2.3_linux_amd64" {
		t.Errorf("standard build named %s", std)
	}
	if fips := got[1].base("v1.2.3"); fips != "vault-plugin-auth-kubernetes_1.2.3_linux_amd64_fips" {
		t.Errorf("FIPS build named %s", fips)
	}
	if !slices.Contains(got[1].env(), "GOFIPS140=v1.0.0") {
		t.Error("the FIPS build's environment has no GOFIPS140")
	}
	for _, e := range got[0].env() {
		if strings.HasPrefix(e, "GOFIPS140=") && os.Getenv("GOFIPS140") == "" {
			t.Errorf("the standard build's environment has %s", e)
		}
	}
	if len(builds([]platform{{"linux", "amd64"}}, "")) != 1 {
		t.Error("a FIPS build without a module")
	}
}
