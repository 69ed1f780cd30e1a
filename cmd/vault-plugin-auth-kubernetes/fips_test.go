package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/fips"
)

func TestVersionText(t *testing.T) {
	for _, tc := range []struct {
		m    fips.Mode
		want string
	}{
		{fips.Mode{}, "v1.2.3\n"},
		{fips.Mode{Module: "v1.0.0-c2097c7c", Enabled: true}, "v1.2.3\nFIPS 140-3 module v1.0.0-c2097c7c (GOFIPS140), fips140=on\n"},
		{fips.Mode{Module: "v1.0.0-c2097c7c", Enabled: true, Enforced: true}, "v1.2.3\nFIPS 140-3 module v1.0.0-c2097c7c (GOFIPS140), fips140=only\n"},
		{fips.Mode{Enabled: true}, "v1.2.3\nno frozen FIPS 140-3 module (GOFIPS140 not set at build), fips140=on\n"},
	} {
		if got := versionText("v1.2.3", tc.m); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestLogFIPSMode(t *testing.T) {
	for _, tc := range []struct {
		m    fips.Mode
		want string
	}{
		{fips.Mode{}, `"fips140":"off","gofips140":"none"`},
		{fips.Mode{Module: "v1.0.0-c2097c7c", Enabled: true, Enforced: true}, `"fips140":"only","gofips140":"v1.0.0-c2097c7c"`},
	} {
		var out bytes.Buffer
		logFIPSMode(newLogger(&out), tc.m)
		if !strings.Contains(out.String(), `"@message":"FIPS 140-3 mode"`) || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%+v: log %s, want %s", tc.m, out.String(), tc.want)
		}
	}
}
