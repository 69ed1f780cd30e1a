package kubeauth

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRequestTimeoutFromEnv(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", defaultRequestTimeout, true},
		{"3s", 3 * time.Second, true},
		{"250ms", 250 * time.Millisecond, true},
		{"0s", 0, false},
		{"-1s", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range cases {
		got, err := requestTimeoutFromEnv(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
}

func TestFactoryRequestTimeout(t *testing.T) {
	t.Setenv(requestTimeoutEnv, "2s")
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	lb, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if got := lb.(*backend).requestTimeout; got != 2*time.Second {
		t.Fatalf("requestTimeout %v", got)
	}
	t.Setenv(requestTimeoutEnv, "never")
	if _, err := Factory(context.Background(), conf); err == nil {
		t.Fatal("a bad timeout was accepted")
	}
}
