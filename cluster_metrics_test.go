package kubeauth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/hashicorp/vault/sdk/logical"
)

// clusterSeries are the families holding a series labeled with cluster.
func clusterSeries(mfs map[string]*dto.MetricFamily, cluster string) []string {
	var out []string
	for name, fam := range mfs {
		for _, pm := range fam.GetMetric() {
			for _, l := range pm.GetLabel() {
				if l.GetName() == "cluster" && l.GetValue() == cluster {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

// A login through a cluster that is deleted while its TokenReview runs
// counts nothing when it ends: the deleted cluster's series stay gone.
func TestDeletedClusterSeriesStayGoneAfterLoginInFlight(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})

	started := make(chan struct{}, 1)
	release := make(chan struct{})
	c.east.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/tokenreviews") {
			return false
		}
		io.Copy(io.Discard, r.Body)
		started <- struct{}{}
		<-release
		return false // then answer as the fake does
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.login(testRole, c.eastToken(eastIssuer))
		done <- err
	}()
	<-started
	c.mustDo(logical.DeleteOperation, "cluster/east", nil)
	if got := clusterSeries(c.scrape(), "east"); len(got) > 0 {
		t.Fatalf("series of the deleted cluster right after the delete: %v", got)
	}
	close(release)
	<-done
	if got := clusterSeries(c.scrape(), "east"); len(got) > 0 {
		t.Fatalf("the login in flight brought back the deleted cluster's series: %v", got)
	}
}

// invalidate (a performance standby learning of a change) forgets a
// deleted cluster's series, and keeps those of a cluster rewritten.
func TestInvalidateForgetsDeletedClusterSeries(t *testing.T) {
	c := newClusterEnv(t, eastIssuer)
	c.writeEast(map[string]any{"issuer": eastIssuer})
	c.writeRole(testRole, map[string]any{"bound_clusters": "*"})
	c.mustLogin(testRole, c.eastToken(eastIssuer))
	success := []string{"cluster", "east", "outcome", "success", "role", testRole}
	if got := metricValue(c.scrape(), "kubeauth_logins_total", success...); got != 1 {
		t.Fatalf("east logins %v, want 1", got)
	}
	ctx := context.Background()
	key := clusterPrefix + "east"

	// Rewritten elsewhere (here, in storage directly): the counts stay.
	entry, err := c.storage.Get(ctx, key)
	if err != nil || entry == nil {
		t.Fatal(entry, err)
	}
	if err := c.storage.Put(ctx, entry); err != nil {
		t.Fatal(err)
	}
	c.b.invalidate(ctx, key)
	if got := metricValue(c.scrape(), "kubeauth_logins_total", success...); got != 1 {
		t.Fatalf("east logins %v after a rewrite, want 1", got)
	}
	// Still logs in and counts, through the state rebuilt from storage.
	c.mustLogin(testRole, c.eastToken(eastIssuer))
	if got := metricValue(c.scrape(), "kubeauth_logins_total", success...); got != 2 {
		t.Fatalf("east logins %v after a rewrite and a login, want 2", got)
	}

	// Deleted elsewhere: the series go.
	if err := c.storage.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	c.b.invalidate(ctx, key)
	if got := clusterSeries(c.scrape(), "east"); len(got) > 0 {
		t.Fatalf("series of a cluster deleted elsewhere after invalidate: %v", got)
	}
}
