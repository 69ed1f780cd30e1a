package kubeauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// renew asks the backend to renew the token a login issued.
func (e *testEnv) renew(auth *logical.Auth) (*logical.Response, error) {
	e.t.Helper()
	auth = asVaultRecords(auth)
	auth.IssueTime = time.Now()
	return e.b.HandleRequest(e.t.Context(), &logical.Request{
		Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: auth,
		Connection: &logical.Connection{RemoteAddr: "10.1.2.3"},
	})
}

// renewalLine is the one log line a renewal that did not pass writes.
type renewalLine struct {
	message, level string
	fields         map[string]string // field -> a substring its value must hold
}

// requireRenewalLogged renews the token and asserts the renewal did not
// pass: the holder gets only the fixed sentence with code (the reason or
// fault kind), and the log has exactly one line, want, with the role, the
// cluster, the service account and the client's address.
func (e *testEnv) requireRenewalLogged(auth *logical.Auth, code string, want renewalLine) error {
	e.t.Helper()
	offset := len(e.logs.String())
	resp, err := e.renew(auth)
	if err == nil || resp != nil {
		e.t.Fatalf("want a renewal that does not pass (%s), got err=%v resp=%#v", code, err, resp)
	}
	verb := "refused"
	if want.message == "renewal failed" {
		verb = "failed"
	}
	if prefix := "renewal " + verb + " (" + code + ")"; !strings.HasPrefix(err.Error(), prefix) {
		e.t.Fatalf("the holder is told %q, want it to start with %q", err, prefix)
	}
	var lines []map[string]any
	for _, l := range e.logLines(offset) {
		if l["@message"] == "renewal refused" || l["@message"] == "renewal failed" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		e.t.Fatalf("want one renewal line in the log, got %d:\n%s", len(lines), e.logs.String()[offset:])
	}
	line := lines[0]
	fields := map[string]string{"role": testRole, "cluster": defaultCluster, "service_account": testkit.Namespace + "/" + testkit.SAName,
		"remote_addr": "10.1.2.3"}
	for k, v := range want.fields {
		fields[k] = v
	}
	if line["@message"] != want.message || line["@level"] != want.level {
		e.t.Errorf("log line %q at %v, want %q at %s", line["@message"], line["@level"], want.message, want.level)
	}
	for k, v := range fields {
		if got, _ := line[k].(string); !strings.Contains(got, v) {
			e.t.Errorf("log field %s = %q, want it to hold %q: %v", k, got, v, line)
		}
	}
	return err
}

func (e *testEnv) requireRenewalRefused(auth *logical.Auth, reason, detail string) error {
	e.t.Helper()
	return e.requireRenewalLogged(auth, reason, renewalLine{"renewal refused", "info", map[string]string{"reason": reason, "detail": detail}})
}

func (e *testEnv) requireRenewalFault(auth *logical.Auth, kind, detail string) error {
	e.t.Helper()
	return e.requireRenewalLogged(auth, kind, renewalLine{"renewal failed", "error", map[string]string{"kind": kind, "error": detail}})
}

func requireRenewed(t *testing.T, resp *logical.Response, err error) {
	t.Helper()
	if err != nil || resp == nil || resp.Auth == nil {
		t.Fatalf("renewal refused: err=%v resp=%#v", err, resp)
	}
}

func requireRenewRefused(t *testing.T, resp *logical.Response, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want a renewal refused with %q, got err=%v resp=%#v", want, err, resp)
	}
}

func TestTokenBoundToWorkloadPod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *testEnv)
		reason string
		detail string
	}{
		{"pod deleted", func(e *testEnv) { e.kube.deletePod(testkit.Namespace, testPodName) }, refusal.ReasonPodNotBound,
			"pod apps/" + testPodName + " no longer exists"},
		{"pod recreated", func(e *testEnv) {
			e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: "new-pod-uid", nodeName: testNodeName})
		}, refusal.ReasonPodNotBound, "deleted and recreated"},
		{"service account deleted", func(e *testEnv) { e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName) }, refusal.ReasonWorkloadGone,
			"service account apps/web no longer exists"},
		{"service account recreated", func(e *testEnv) {
			e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, "new-sa-uid", nil)
		}, refusal.ReasonWorkloadGone, `its UID is "new-sa-uid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := withPod(t, nil)
			e.writeRole(testRole, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})
			login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))

			resp, err := e.renew(login.Auth)
			requireRenewed(t, resp, err)
			tc.change(e)
			e.requireRenewalRefused(login.Auth, tc.reason, tc.detail)
		})
	}
}

// A login with a token bound to no pod is bound to its service account
// alone: no pod is looked up.
func TestTokenBoundToWorkloadServiceAccountOnly(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})
	login := e.requirePodLogin(e.token())
	resp, err := e.renew(login.Auth)
	requireRenewed(t, resp, err)
	if n := e.kube.podGets.Load(); n != 0 {
		t.Errorf("%d pod GETs for a login without a pod", n)
	}
	e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName)
	e.requireRenewalRefused(login.Auth, refusal.ReasonWorkloadGone, "no longer exists")
}

// Without the field, a token renews after its workload is gone, as with
// Vault's method, and nothing is looked up.
func TestRenewWithoutTokenBoundToWorkload(t *testing.T) {
	e := withPod(t, nil)
	e.writeRole(testRole, map[string]any{"bound_pod_names": testPodName, "token_period": "1h"})
	login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
	e.kube.deletePod(testkit.Namespace, testPodName)
	e.kube.deleteServiceAccount(testkit.Namespace, testkit.SAName)
	resp, err := e.renew(login.Auth)
	requireRenewed(t, resp, err)
	if n := e.kube.podGets.Load() + e.kube.serviceAccountGets.Load(); n != 0 {
		t.Errorf("%d lookups for a role without token_bound_to_workload", n)
	}
}

func TestTokenBoundToWorkloadCredential(t *testing.T) {
	t.Run("reviewer refused", func(t *testing.T) {
		e := withPod(t, nil)
		e.writeRole(testRole, map[string]any{"token_bound_to_workload": true})
		login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
		e.kube.answerStatus("/pods/", http.StatusForbidden, "pods is forbidden")
		e.requireRenewalFault(login.Auth, refusal.FaultKubeForbidden, "the reviewer credential needs get on pods")
	})
	t.Run("no reviewer credential", func(t *testing.T) {
		e := withPod(t, nil)
		e.kube.setReviewerToken("") // each token reviews itself
		e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
		e.writeRole(testRole, map[string]any{"token_bound_to_workload": true})
		login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
		e.requireRenewalRefused(login.Auth, refusal.ReasonReviewerRequired, "token_bound_to_workload cannot be re-checked without a reviewer credential")
	})
}

// setupWords are what a renewal's answer must never hold: the API server's
// address, what TLS or Kubernetes said, the reviewer, the role's bindings.
func (e *testEnv) setupWords() []string {
	return []string{strings.TrimPrefix(e.kube.srv.URL, "https://"), "127.0.0.1", "https://", "x509", "certificate", "TLS",
		"cannot get", "reviewer credential", "token_reviewer_jwt", "RBAC", "get on", "bound_", "selector", "etcd", testPodName,
		testNodeName, "deletionTimestamp"}
}

// A renewal that does not pass tells the token holder a fixed sentence with
// the reason code or fault kind, never the setup (the API server's address,
// a TLS failure, a missing permission, the role's bindings); the detail is
// in the log, one line per renewal, with a login line's fields. Only the
// refusals that restate what the token says (its role is gone, its
// policies changed, its cluster) say more, and then what to do.
func TestRenewalAnswersTellNothingOfTheSetup(t *testing.T) {
	otherCA := testkit.Testdata(t, "signer.crt") // a certificate, not the API server's CA
	const forbidPods = `pods "x" is forbidden: User "system:serviceaccount:vault:reviewer" cannot get resource "pods"`
	for _, tc := range []struct {
		name   string
		role   map[string]any // on top of a role with a label selector and token_bound_to_workload
		change func(e *testEnv, auth *logical.Auth)
		check  func(e *testEnv, auth *logical.Auth) error
		// says is what the answer must hold besides the fixed sentence.
		says string
	}{
		{
			name:   "API server refuses the connection",
			change: func(e *testEnv, _ *logical.Auth) { e.kube.srv.Close() },
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalFault(auth, refusal.FaultKubeUnreachable, strings.TrimPrefix(e.kube.srv.URL, "https://"))
			},
		},
		{
			name:   "API server certificate not trusted",
			change: func(e *testEnv, _ *logical.Auth) { e.writeConfig(map[string]any{"kubernetes_ca_cert": otherCA}) },
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalFault(auth, refusal.FaultKubeTLS, "certificate")
			},
		},
		{
			name:   "reviewer may not read pods",
			change: func(e *testEnv, _ *logical.Auth) { e.kube.answerStatus("/pods/", http.StatusForbidden, forbidPods) },
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalFault(auth, refusal.FaultKubeForbidden, "get on pods")
			},
		},
		{
			name: "API server answers 500",
			change: func(e *testEnv, _ *logical.Auth) {
				e.kube.answerStatus(everyPath, http.StatusInternalServerError, "etcdserver: request timed out")
			},
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalFault(auth, refusal.FaultKubeStatus, "500")
			},
		},
		{
			name:   "the token names no role",
			change: func(_ *testEnv, auth *logical.Auth) { delete(auth.InternalData, metaRole) },
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalLogged(auth, refusal.FaultInternal, renewalLine{"renewal failed", "error",
					map[string]string{"kind": refusal.FaultInternal, "error": "does not name its role", "role": ""}})
			},
		},
		{
			name:   "pod deleted",
			change: func(e *testEnv, _ *logical.Auth) { e.kube.deletePod(testkit.Namespace, testPodName) },
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalRefused(auth, refusal.ReasonPodNotBound, "no longer exists")
			},
			says: `by role "web"; see the Vault server log`,
		},
		{
			name: "pod relabeled",
			change: func(e *testEnv, _ *logical.Auth) {
				e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName})
			},
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalRefused(auth, refusal.ReasonPodNotBound, "do not match bound_pod_label_selector")
			},
			says: `by role "web"; see the Vault server log`,
		},
		{
			name: "service account no longer bound",
			change: func(e *testEnv, _ *logical.Auth) {
				e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"bound_service_account_names": "db"})
			},
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalRefused(auth, refusal.ReasonName, "bound_service_account_names")
			},
			says: `by role "web"; see the Vault server log`,
		},
		{
			name: "no reviewer credential",
			change: func(e *testEnv, _ *logical.Auth) {
				e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
			},
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalRefused(auth, refusal.ReasonReviewerRequired, "without a reviewer credential")
			},
			says: `by role "web"; see the Vault server log`,
		},
		{
			name:   "role deleted",
			change: func(e *testEnv, _ *logical.Auth) { e.mustDo(logical.DeleteOperation, "role/"+testRole, nil) },
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalRefused(auth, refusal.ReasonRoleGone, `role "web" no longer exists`)
			},
			says: `role "web" no longer exists`,
		},
		{
			name: "policies changed",
			change: func(e *testEnv, _ *logical.Auth) {
				e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"token_policies": "admin"})
			},
			check: func(e *testEnv, auth *logical.Auth) error {
				return e.requireRenewalRefused(auth, refusal.ReasonPoliciesChanged, `"admin"`)
			},
			says: "log in again",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := withPod(t, map[string]string{"app": "web"})
			e.writeRole(testRole, map[string]any{"bound_pod_label_selector": "matchLabels: {app: web}", "token_bound_to_workload": true,
				"token_period": "1h"})
			login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
			resp, err := e.renew(login.Auth)
			requireRenewed(t, resp, err)

			tc.change(e, login.Auth)
			err = tc.check(e, login.Auth)
			t.Logf("the holder is told: %v", err)
			for _, w := range e.setupWords() {
				if strings.Contains(err.Error(), w) {
					t.Errorf("the holder is told %q, which holds %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("the holder is told %q, want it to say %q", err, tc.says)
			}
			if strings.HasPrefix(err.Error(), "renewal failed") && !strings.HasSuffix(err.Error(), "; see the Vault server log") {
				t.Errorf("a fault's answer %q does not point to the log", err)
			}
		})
	}
}
