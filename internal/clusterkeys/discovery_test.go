package clusterkeys

import (
	"strings"
	"testing"
)

func TestParseDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "" when an error is expected
		wantErr    string
	}{
		{name: "API server shape", body: string(seedBytes(t, "FuzzParseDiscovery", "apiserver")), want: "https://kubernetes.default.svc.cluster.local"},
		{name: "issuer that is not a URL", body: `{"issuer":"kubernetes/serviceaccount"}`, want: "kubernetes/serviceaccount"},
		{name: "not JSON", body: `<html>`, wantErr: "not a JSON object"},
		{name: "array", body: `["https://x"]`, wantErr: "not a JSON object"},
		{name: "null", body: `null`, wantErr: "no issuer"},
		{name: "no issuer", body: `{"jwks_uri":"https://x/openid/v1/jwks"}`, wantErr: "no issuer"},
		{name: "issuer in another case", body: `{"Issuer":"https://x"}`, wantErr: "no issuer"},
		{name: "null issuer", body: `{"issuer":null}`, wantErr: "no issuer"},
		{name: "number", body: `{"issuer":42}`, wantErr: "string issuer"},
		{name: "two issuers", body: `{"issuer":"https://a","issuer":"https://b"}`, wantErr: "not a JSON object"},
		{name: "empty", body: `{"issuer":""}`, wantErr: "is empty"},
		{name: "white space", body: `{"issuer":" https://x"}`, wantErr: "white space"},
		{name: "control character", body: `{"issuer":"https://x\u0007"}`, wantErr: "control character"},
		{name: "invalid UTF-8", body: "{\"issuer\":\"https://x\xff\"}", wantErr: "UTF-8"},
		{name: "too long", body: `{"issuer":"https://` + strings.Repeat("x", maxIssuerLen) + `"}`, wantErr: "longer than"},
		{name: "too large", body: `{"issuer":"https://x"}` + strings.Repeat(" ", maxDiscoveryBytes), wantErr: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDiscovery([]byte(tc.body))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("parseDiscovery accepted %q, want an error with %q", got, tc.wantErr)
				}
				mustContain(t, err.Error(), tc.wantErr)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseDiscovery = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
