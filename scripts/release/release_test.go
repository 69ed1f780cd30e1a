package main

import (
	"os"
	"testing"
)

func TestReleaseRefusesVersionsVaultRejects(t *testing.T) {
	for _, v := range []string{"", "0.1.0", "v1.2", "v1.2.3.4", "latest"} {
		out := t.TempDir()
		if _, err := release("go", "../..", out, v, []platform{{"linux", "amd64"}}); err == nil {
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
