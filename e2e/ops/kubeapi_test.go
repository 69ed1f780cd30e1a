package ops

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// faultTimeout is the KUBEAUTH_REQUEST_TIMEOUT the fault tests register the
// plugin with: short enough to keep the suite quick, long enough that a
// healthy TokenReview on a busy two-core machine never comes near it.
const faultTimeout = 3 * time.Second

// faultSlack is what a bounded login may take beyond faultTimeout: Vault's
// own request handling and the machine being busy with the other tests.
const faultSlack = 5 * time.Second

var faults struct {
	sync.Mutex
	entry *catalogEntry
}

// faultsPlugin registers, once per run, the catalog entry the fault tests
// share (one plugin process serving all their mounts, as in production).
func faultsPlugin(t *testing.T) catalogEntry {
	t.Helper()
	faults.Lock()
	defer faults.Unlock()
	if faults.entry == nil {
		e := installPlugin(t, ops.Vault, ops.PluginDir, "kubeauth-faults", ops.plugin,
			"KUBEAUTH_REQUEST_TIMEOUT="+faultTimeout.String())
		faults.entry = &e
	}
	return *faults.entry
}

// faultMount mounts the fault tests' plugin with a config for host and
// caPEM and a role "app" for w, and returns the mount path.
func faultMount(t *testing.T, host, caPEM string, w realstack.Workload) string {
	t.Helper()
	e := faultsPlugin(t)
	mount := realstack.UniqueName(t, "k")
	enableAuth(t, ops.Vault, mount, e.name, e.version)
	expectRunning(t, ops.Vault, mount, e)
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config",
		ops.ReviewerConfig(map[string]any{"kubernetes_host": host, "kubernetes_ca_cert": caPEM}))
	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/role/app", realstack.BindRole(w, nil))
	return mount
}

// expectBounded fails unless a login that waited on a silent API server
// gave up at the configured timeout: not before (it did wait for the
// server) and not much after (nothing else held it up).
func expectBounded(t *testing.T, r *realstack.Reply) {
	t.Helper()
	if r.Elapsed < faultTimeout-200*time.Millisecond || r.Elapsed > faultTimeout+faultSlack {
		t.Fatalf("want the login to give up after about %v (at most %v), it took %v: %s",
			faultTimeout, faultTimeout+faultSlack, r.Elapsed.Round(time.Millisecond), r)
	}
}

// The Kubernetes API goes down: logins fail at once with an error that says
// so, and succeed again as soon as it is back, with no reload and no config
// write. A frozen API server (SIGSTOP: connections open, nothing answers)
// is bounded by the timeout instead.
func TestKubeAPIDownAndBack(t *testing.T) {
	t.Parallel()
	api := newPrivateAPIServer(t, "down", ops.privateKubePort(0))
	api.start(t)
	w := ops.NewWorkload(t, "app", nil)
	mount := faultMount(t, api.host(), api.caPEM, w)
	jwt := token(t, w)
	ops.Vault.MustLogin(t, mount, "app", jwt)

	api.stop()
	if api.proc.Running() {
		t.Fatal("the apiserver is still running after stop")
	}
	for i := range 3 {
		r := ops.Vault.Login(t, mount, "app", jwt)
		expectFault(t, r, "kubernetes API at "+api.host()+" is unreachable for the TokenReview")
		if r.Elapsed >= faultTimeout {
			t.Fatalf("login %d with the API down took %v, want a fast failure (under the %v timeout): %s",
				i+1, r.Elapsed.Round(time.Millisecond), faultTimeout, r)
		}
		t.Logf("API down, login %d: HTTP %d in %v: %s", i+1, r.Status, r.Elapsed.Round(time.Millisecond), r.ErrorText())
	}

	api.start(t)
	r := ops.Vault.Login(t, mount, "app", jwt)
	if r.Status != http.StatusOK {
		t.Fatalf("first login after the API came back (no reload): want HTTP 200, got %s", r)
	}
	t.Logf("API back: first login HTTP 200 in %v", r.Elapsed.Round(time.Millisecond))

	if err := api.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitAllThreadsStopped(t, api.proc.PID())
	// Registered after the stop in newPrivateAPIServer, so it runs first: a
	// stopped process would sit on SIGTERM until killed.
	t.Cleanup(func() { _ = api.proc.Signal(syscall.SIGCONT) })
	r = ops.Vault.Login(t, mount, "app", jwt)
	expectFault(t, r, "kubernetes API at "+api.host()+" did not answer the TokenReview within "+faultTimeout.String())
	expectBounded(t, r)
	t.Logf("API frozen: HTTP %d in %v: %s", r.Status, r.Elapsed.Round(time.Millisecond), r.ErrorText())

	if err := api.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	_, attempts, first := ops.Vault.LoginEventually(t, mount, "app", jwt, 30*time.Second)
	t.Logf("API thawed: login succeeded after %d attempt(s) (first failure: %q)", attempts, first)
}

// A hung API server (a listener that accepts and never answers) holds no
// login longer than the timeout, also when several wait on it at once; a
// config write pointing back at a live API server takes effect at once.
func TestKubeAPIHung(t *testing.T) {
	t.Parallel()
	hung := newHungListener(t)
	w := ops.NewWorkload(t, "app", nil)
	mount := faultMount(t, hung.host(), ops.KubeCA, w)
	jwt := token(t, w)

	r := ops.Vault.Login(t, mount, "app", jwt)
	expectFault(t, r, "kubernetes API at "+hung.host()+" did not answer the TokenReview within "+faultTimeout.String())
	expectBounded(t, r)
	t.Logf("hung API: HTTP %d in %v: %s", r.Status, r.Elapsed.Round(time.Millisecond), r.ErrorText())

	const concurrent = 4
	replies := make([]*realstack.Reply, concurrent)
	errs := make([]error, concurrent)
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			replies[i], errs[i] = ops.Vault.WithToken("").Do(ctx, realstack.HTTPClient, http.MethodPost, "auth/"+mount+"/login",
				map[string]any{"role": "app", "jwt": jwt})
		})
	}
	wg.Wait()
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		expectFault(t, r, "did not answer the TokenReview within "+faultTimeout.String())
		expectBounded(t, r)
		t.Logf("hung API, concurrent login %d: %v", i+1, r.Elapsed.Round(time.Millisecond))
	}
	if hung.accepted() == 0 {
		t.Fatal("the hung listener never saw a connection: the logins did not reach it")
	}

	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config", ops.ReviewerConfig(nil))
	ops.Vault.MustLogin(t, mount, "app", jwt)
}

// The API server's serving CA is rotated: with the old CA still in config
// the login fails and says TLS verification failed; once the new CA is
// written to config, the next login succeeds.
func TestKubeAPIServingCARotation(t *testing.T) {
	t.Parallel()
	api := newPrivateAPIServer(t, "ca", ops.privateKubePort(1))
	api.start(t)
	w := ops.NewWorkload(t, "app", nil)
	oldCA := api.caPEM
	mount := faultMount(t, api.host(), oldCA, w)
	jwt := token(t, w)
	ops.Vault.MustLogin(t, mount, "app", jwt)

	api.stop()
	api.issueServingCert(t)
	if api.caPEM == oldCA {
		t.Fatal("the rotated CA is the old one")
	}
	api.start(t)

	r := ops.Vault.Login(t, mount, "app", jwt)
	expectFault(t, r, "kubernetes API at "+api.host()+" failed TLS verification for the TokenReview (check kubernetes_ca_cert)")
	t.Logf("old CA in config: HTTP %d: %s", r.Status, r.ErrorText())

	ops.Vault.Must(t, http.MethodPost, "auth/"+mount+"/config",
		ops.ReviewerConfig(map[string]any{"kubernetes_host": api.host(), "kubernetes_ca_cert": api.caPEM}))
	if got := ops.Vault.Must(t, http.MethodGet, "auth/"+mount+"/config", nil).Data().Str("kubernetes_ca_cert"); strings.TrimSpace(got) != strings.TrimSpace(api.caPEM) {
		t.Fatalf("config reads back another CA than the one written:\n%s", got)
	}
	ops.Vault.MustLogin(t, mount, "app", jwt)
}
