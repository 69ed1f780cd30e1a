package kubeauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// renew asks the backend to renew the token a login issued.
func (e *testEnv) renew(auth *logical.Auth) (*logical.Response, error) {
	e.t.Helper()
	auth = asVaultRecords(auth)
	auth.IssueTime = time.Now()
	return e.b.HandleRequest(e.t.Context(), &logical.Request{
		Operation: logical.RenewOperation, Path: "login", Storage: e.storage, Auth: auth,
	})
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
		want   string
	}{
		{"pod deleted", func(e *testEnv) { e.kube.deletePod(testNamespace, testPodName) }, "pod apps/" + testPodName + " no longer exists"},
		{"pod recreated", func(e *testEnv) {
			e.kube.putPod(testNamespace, testPodName, fakePod{uid: "new-pod-uid", nodeName: testNodeName})
		}, "was deleted and recreated"},
		{"service account deleted", func(e *testEnv) { e.kube.deleteServiceAccount(testNamespace, testSAName) }, "service account apps/web no longer exists"},
		{"service account recreated", func(e *testEnv) {
			e.kube.addServiceAccount(testNamespace, testSAName, "new-sa-uid", nil)
		}, `its UID is "new-sa-uid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := withPod(t, nil)
			e.writeRole(testRole, map[string]any{"token_bound_to_workload": true, "token_period": "1h"})
			login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))

			resp, err := e.renew(login.Auth)
			requireRenewed(t, resp, err)
			tc.change(e)
			resp, err = e.renew(login.Auth)
			requireRenewRefused(t, resp, err, tc.want)
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
	e.kube.deleteServiceAccount(testNamespace, testSAName)
	resp, err = e.renew(login.Auth)
	requireRenewRefused(t, resp, err, "no longer exists")
}

// Without the field, a token renews after its workload is gone, as with
// Vault's method, and nothing is looked up.
func TestRenewWithoutTokenBoundToWorkload(t *testing.T) {
	e := withPod(t, nil)
	e.writeRole(testRole, map[string]any{"bound_pod_names": testPodName, "token_period": "1h"})
	login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
	e.kube.deletePod(testNamespace, testPodName)
	e.kube.deleteServiceAccount(testNamespace, testSAName)
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
		e.kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/pods/") {
				writeStatus(w, http.StatusForbidden, "pods is forbidden")
				return true
			}
			return false
		})
		resp, err := e.renew(login.Auth)
		requireRenewRefused(t, resp, err, "the reviewer credential needs get on pods")
	})
	t.Run("no reviewer credential", func(t *testing.T) {
		e := withPod(t, nil)
		e.kube.setReviewerToken("") // each token reviews itself
		e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
		e.writeRole(testRole, map[string]any{"token_bound_to_workload": true})
		login := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
		resp, err := e.renew(login.Auth)
		requireRenewRefused(t, resp, err, "without a reviewer credential")
	})
}
