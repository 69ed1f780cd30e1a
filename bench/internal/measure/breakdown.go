package measure

import (
	"fmt"
	"os"
	"regexp"

	"github.com/google/pprof/profile"
)

// Part is a slice of a process's CPU profile: the samples whose stack holds
// a function matching in and none matching notIn. Parts may overlap (a part
// and the parts it calls); each is a share of all samples.
type Part struct {
	label string
	in    *regexp.Regexp
	notIn *regexp.Regexp
}

func fn(pattern string) *regexp.Regexp { return regexp.MustCompile(`^` + pattern + `$`) }

const pluginPkg = `github\.com/kubeauth/vault-plugin-auth-kubernetes`

// PluginParts is where a login's CPU goes in this plugin's process. The
// function names are those of the login path; a part none of whose
// functions appears in the profile is left out of the table.
var PluginParts = []Part{
	{label: "gRPC: every request Vault sends the plugin", in: fn(`google\.golang\.org/grpc\.\(\*Server\)\.handleStream`)},
	{label: "SDK framework: routing, fields, the handler", in: fn(`github\.com/hashicorp/vault/sdk/framework\.\(\*Backend\)\.HandleRequest`)},
	{label: "the login handler (pathLogin)", in: fn(pluginPkg + `\.\(\*backend\)\.pathLogin`)},
	{label: "  of which local verification (hybrid)", in: fn(pluginPkg + `\.\(\*backend\)\.verifyLocally`)},
	// Mounts with named clusters (issue 12): the states of every cluster,
	// then the choice among them from the token.
	{label: "  of which the clusters' states (mountClusters)", in: fn(pluginPkg + `\.\(\*backend\)\.mountClusters`)},
	{label: "  of which the choice of the login's cluster (stepCluster)", in: fn(pluginPkg + `\.stepCluster`)},
	// TokenReviews run in the review cache's coalescing goroutine, so
	// their samples are not under the handler's: a part of its own.
	{label: "the TokenReview call (client-go, TLS; in the coalescing goroutine)", in: fn(pluginPkg + `/internal/kube\.\(\*Client\)\.Review`)},
	{label: "garbage collection (background)", in: fn(`runtime\.gcBgMarkWorker`)},
}

// VaultParts is where a login's CPU goes in Vault's process.
var VaultParts = []Part{
	{label: "HTTP server: every request", in: fn(`net/http\.\(\*conn\)\.serve`)},
	{label: "Vault's login path (handleLoginRequest)", in: fn(`github\.com/hashicorp/vault/vault\.\(\*Core\)\.handleLoginRequest`)},
	{label: "  of which the call to an external plugin (gRPC)", in: fn(`github\.com/hashicorp/vault/sdk/plugin\.\(\*backendGRPCPluginClient\)\.HandleRequest`)},
	{label: "  of which the entity lookup or creation", in: fn(`github\.com/hashicorp/vault/vault\.\(\*IdentityStore\)\.CreateOrFetchEntity`)},
	{label: "  of which the token's creation (LoginCreateToken)", in: fn(`github\.com/hashicorp/vault/vault\.\(\*Core\)\.LoginCreateToken`)},
	{label: "the request's token check (CheckToken)", in: fn(`github\.com/hashicorp/vault/vault\.\(\*Core\)\.CheckToken`)},
	{label: "garbage collection (background)", in: fn(`runtime\.gcBgMarkWorker`)},
}

// Share is one part's share of a profile's CPU samples.
type Share struct {
	Label    string
	Fraction float64
}

// breakdown returns each part's share of the CPU time in p, leaving out
// the parts that match no sample.
func breakdown(p *profile.Profile, parts []Part) ([]Share, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("not a CPU profile (sample types %v)", p.SampleType)
	}
	var total int64
	sums := make([]int64, len(parts))
	for _, s := range p.Sample {
		v := s.Value[idx]
		total += v
		names := map[string]bool{}
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function != nil {
					names[line.Function.Name] = true
				}
			}
		}
		for i, pt := range parts {
			if anyMatch(names, pt.in) && (pt.notIn == nil || !anyMatch(names, pt.notIn)) {
				sums[i] += v
			}
		}
	}
	var out []Share
	if total == 0 {
		return out, nil
	}
	for i, pt := range parts {
		if sums[i] > 0 {
			out = append(out, Share{pt.label, float64(sums[i]) / float64(total)})
		}
	}
	return out, nil
}

func anyMatch(names map[string]bool, re *regexp.Regexp) bool {
	for n := range names {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}

func BreakdownFile(file string, parts []Part) ([]Share, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, err
	}
	return breakdown(p, parts)
}
