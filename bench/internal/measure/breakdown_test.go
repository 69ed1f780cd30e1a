package measure

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile builds a CPU profile whose samples have the given stacks
// (innermost function first) and CPU nanoseconds.
func cpuProfile(samples map[int64][]string) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	funcs := map[string]*profile.Function{}
	var id uint64
	for ns, stack := range samples {
		s := &profile.Sample{Value: []int64{ns / 10_000_000, ns}}
		for _, name := range stack {
			f, ok := funcs[name]
			if !ok {
				id++
				f = &profile.Function{ID: id, Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func TestBreakdown(t *testing.T) {
	const (
		grpc    = "google.golang.org/grpc.(*Server).handleStream"
		fw      = "github.com/hashicorp/vault/sdk/framework.(*Backend).HandleRequest"
		login   = "github.com/kubeauth/vault-plugin-auth-kubernetes.(*backend).pathLogin"
		review  = "github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube.(*Client).Review"
		gc      = "runtime.gcBgMarkWorker"
		anonymo = "github.com/kubeauth/vault-plugin-auth-kubernetes.(*backend).pathLogin.func1"
		states  = "github.com/kubeauth/vault-plugin-auth-kubernetes.(*backend).mountClusters"
		choice  = "github.com/kubeauth/vault-plugin-auth-kubernetes.stepCluster"
	)
	p := cpuProfile(map[int64][]string{
		// Distinct values: the map keys are the samples' CPU times. The
		// TokenReview runs in the coalescing goroutine, outside the handler.
		400: {"crypto/tls.(*Conn).Write", review, "singleflight.(*Group).doCall"},
		300: {"encoding/json.Unmarshal", login, fw, grpc},
		100: {anonymo, fw, grpc}, // a closure of pathLogin: not pathLogin itself
		150: {"proto.Marshal", grpc},
		50:  {"runtime.scanobject", gc},
		// On a mount with named clusters.
		60: {"fmt.Sprintf", "github.com/kubeauth/vault-plugin-auth-kubernetes.chooseCluster", choice,
			"github.com/kubeauth/vault-plugin-auth-kubernetes.runSteps", login, fw, grpc},
		20: {"sync.(*RWMutex).RLock", states, "github.com/kubeauth/vault-plugin-auth-kubernetes.(*backend).newAttempt", login, fw, grpc},
	})
	// Through the wire format, as the tool reads a fetched profile.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	parsed, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := breakdown(parsed, PluginParts)
	if err != nil {
		t.Fatal(err)
	}
	want := []Share{
		{"gRPC: every request Vault sends the plugin", 630.0 / 1080},
		{"SDK framework: routing, fields, the handler", 480.0 / 1080},
		{"the login handler (pathLogin)", 380.0 / 1080},
		// verifyLocally appears nowhere: its row is left out.
		{"  of which the clusters' states (mountClusters)", 20.0 / 1080},
		{"  of which the choice of the login's cluster (stepCluster)", 60.0 / 1080},
		{"the TokenReview call (client-go, TLS; in the coalescing goroutine)", 400.0 / 1080},
		{"garbage collection (background)", 50.0 / 1080},
	}
	if len(got) != len(want) {
		t.Fatalf("breakdown = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Label != want[i].Label || math.Abs(got[i].Fraction-want[i].Fraction) > 1e-12 {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBreakdownRejectsOtherProfiles(t *testing.T) {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}}
	if _, err := breakdown(p, PluginParts); err == nil {
		t.Fatal("a heap profile was taken for a CPU profile")
	}
}
