package kubeauth

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// The pod most pod tests log in from.
const (
	testPodName  = "web-7d4b9c-x2x9q"
	testPodUID   = "3c1e6a55-9f0b-4d2e-8a71-0c5d2e9b4f10"
	testNodeName = "node-a"
)

// podToken mints a token bound to a pod (and to its node when node is not
// empty), as the kubelet's TokenRequest does.
func (e *testEnv) podToken(podName, podUID, node string) string {
	e.t.Helper()
	claims := testkit.Claims(testkit.Namespace, testkit.SAName, testkit.SAUID, "vault")
	k := claims["kubernetes.io"].(map[string]any)
	k["pod"] = map[string]any{"name": podName, "uid": podUID}
	if node != "" {
		k["node"] = map[string]any{"name": node, "uid": "node-uid-" + node}
	}
	return testkit.SignJWT(e.t, e.signer, jose.RS256, claims)
}

// withPod is a configured env whose fake API server has the test pod.
func withPod(t *testing.T, labels map[string]string) *testEnv {
	t.Helper()
	e := configured(t)
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName, labels: labels})
	return e
}

func (e *testEnv) requirePodLogin(token string) *logical.Response {
	e.t.Helper()
	resp, err := e.login(testRole, token)
	if err != nil || resp == nil || resp.Auth == nil {
		e.t.Fatalf("login: err=%v resp=%#v\nlog:\n%s", err, resp, e.logs.String())
	}
	return resp
}

// A role without the pod fields stores, reads and logs in exactly as
// before: no new keys in storage, in the read or in the token metadata,
// even for a pod-bound token, and no pod is read.
func TestPodFieldsUnusedChangeNothing(t *testing.T) {
	e := withPod(t, nil)
	raw := e.rawEntry(rolePrefix + testRole)
	read := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data
	for _, k := range []string{"bound_pod_names", "bound_node_names", "bound_pod_label_selector", "token_bound_to_workload"} {
		if _, ok := raw[k]; ok {
			t.Errorf("storage has %s for a role that does not use it", k)
		}
		if _, ok := read[k]; ok {
			t.Errorf("read has %s for a role that does not use it", k)
		}
	}
	resp := e.requirePodLogin(e.podToken(testPodName, testPodUID, testNodeName))
	for _, k := range []string{metaPodName, metaPodUID, metaNodeName} {
		if _, ok := resp.Auth.Metadata[k]; ok {
			t.Errorf("metadata has %s for a role without pod fields: %v", k, resp.Auth.Metadata)
		}
	}
	if n := e.kube.podGets.Load(); n != 0 {
		t.Errorf("%d pod GETs for a role without pod fields", n)
	}
}

func TestBoundPodNames(t *testing.T) {
	e := withPod(t, nil)
	e.writeRole(testRole, map[string]any{"bound_pod_names": "web-*"})

	resp := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
	md := resp.Auth.Metadata
	if md[metaPodName] != testPodName || md[metaPodUID] != testPodUID {
		t.Fatalf("metadata %v lacks the pod", md)
	}
	if _, ok := md[metaNodeName]; ok {
		t.Errorf("metadata names a node no one knows: %v", md)
	}
	if _, ok := resp.Auth.Alias.Metadata[metaPodName]; ok {
		t.Errorf("the entity alias must stay per service account, its metadata has the pod: %v", resp.Auth.Alias.Metadata)
	}
	if n := e.kube.podGets.Load(); n != 0 {
		t.Errorf("bound_pod_names alone read the pod %d times", n)
	}

	resp, err := e.login(testRole, e.podToken("db-0", "0f0f0f0f-aaaa", ""))
	e.requireDenied(resp, err, refusal.ReasonPodNotBound)

	// A token bound to no pod (a TokenRequest without a bound object).
	resp, err = e.login(testRole, e.token())
	e.requireDenied(resp, err, refusal.ReasonPodNotBound)
	if !strings.Contains(e.logs.String(), "not bound to a pod") {
		t.Errorf("log does not say the token is not pod-bound:\n%s", e.logs.String())
	}
}

func TestBoundPodLabelSelector(t *testing.T) {
	e := withPod(t, map[string]string{"app": "web", "tier": "front"})
	e.writeRole(testRole, map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["front"]}]}`})
	token := e.podToken(testPodName, testPodUID, "")

	resp := e.requirePodLogin(token)
	if got := resp.Auth.Metadata[metaNodeName]; got != testNodeName {
		t.Errorf("node from the pod's spec.nodeName: got %q, want %q", got, testNodeName)
	}

	// The pod's live labels decide: a label change flips the outcome.
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName, labels: map[string]string{"app": "web", "tier": "back"}})
	resp, err := e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonPodNotBound)
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName, labels: map[string]string{"app": "web", "tier": "front"}})
	e.requirePodLogin(token)

	// Recreated under the same name: another pod, whatever its labels.
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: "9a9a9a9a-new", nodeName: testNodeName, labels: map[string]string{"app": "web", "tier": "front"}})
	resp, err = e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonPodNotBound)
	if !strings.Contains(e.logs.String(), "recreated") {
		t.Errorf("log does not say the pod was recreated:\n%s", e.logs.String())
	}

	e.kube.deletePod(testkit.Namespace, testPodName)
	resp, err = e.login(testRole, token)
	e.requireDenied(resp, err, refusal.ReasonPodNotBound)
	if !strings.Contains(e.logs.String(), "no longer exists") {
		t.Errorf("log does not say the pod is gone:\n%s", e.logs.String())
	}
}

// A reviewer that may not read pods is the operator's setup, not a bad
// login: a fault naming the missing permission in the log, not a 403.
func TestPodLookupReviewerRefused(t *testing.T) {
	e := withPod(t, map[string]string{"app": "web"})
	e.writeRole(testRole, map[string]any{"bound_pod_label_selector": "matchLabels: {app: web}\n"})
	e.kube.answerStatus("/pods/", http.StatusForbidden, "pods is forbidden")
	resp, err := e.login(testRole, e.podToken(testPodName, testPodUID, ""))
	if err == nil || errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("want a fault, got err=%v resp=%#v", err, resp)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, refusal.FaultKubeForbidden) || !strings.Contains(logs, "get on pods") {
		t.Errorf("log does not name the missing permission:\n%s", logs)
	}
	if strings.Contains(err.Error(), "pods") {
		t.Errorf("the caller is told about the setup: %v", err)
	}
}

func TestBoundNodeNames(t *testing.T) {
	t.Run("from the review", func(t *testing.T) {
		e := withPod(t, nil)
		e.kube.setSendNodeName(true)
		e.writeRole(testRole, map[string]any{"bound_node_names": "node-*"})
		resp := e.requirePodLogin(e.podToken(testPodName, testPodUID, "node-b"))
		if got := resp.Auth.Metadata[metaNodeName]; got != "node-b" {
			t.Errorf("node %q, want the review's node-b", got)
		}
		if n := e.kube.podGets.Load(); n != 0 {
			t.Errorf("the review named the node, yet the pod was read %d times", n)
		}
		resp, err := e.login(testRole, e.podToken(testPodName, testPodUID, "gpu-1"))
		e.requireDenied(resp, err, refusal.ReasonNodeNotBound)
	})
	t.Run("from the pod", func(t *testing.T) {
		e := withPod(t, nil)
		e.writeRole(testRole, map[string]any{"bound_node_names": testNodeName})
		resp := e.requirePodLogin(e.podToken(testPodName, testPodUID, ""))
		if got := resp.Auth.Metadata[metaNodeName]; got != testNodeName {
			t.Errorf("node %q, want the pod's %q", got, testNodeName)
		}
		if n := e.kube.podGets.Load(); n != 1 {
			t.Errorf("%d pod GETs, want 1", n)
		}
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: "node-z"})
		resp, err := e.login(testRole, e.podToken(testPodName, testPodUID, ""))
		e.requireDenied(resp, err, refusal.ReasonNodeNotBound)
	})
	t.Run("unknown", func(t *testing.T) {
		e := withPod(t, nil)
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID}) // not scheduled
		e.writeRole(testRole, map[string]any{"bound_node_names": "*"})
		resp, err := e.login(testRole, e.podToken(testPodName, testPodUID, ""))
		e.requireDenied(resp, err, refusal.ReasonNodeNotBound)
		if !strings.Contains(e.logs.String(), "is not known") {
			t.Errorf("log does not say the node is unknown:\n%s", e.logs.String())
		}
	})
}

func TestPodFieldsValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		value any
		want  string
	}{
		{"selector not a selector", "bound_pod_label_selector", `{"matchLabel":{"app":"web"}}`, "bound_pod_label_selector: not a LabelSelector"},
		{"selector selects every pod", "bound_pod_label_selector", `{}`, "bound_pod_label_selector: selects every pod"},
		{"selector bad operator", "bound_pod_label_selector", `{"matchExpressions":[{"key":"a","operator":"Near"}]}`, "bound_pod_label_selector"},
		{"selector too large", "bound_pod_label_selector", `{"matchLabels":{"a":"` + strings.Repeat("b", 5000) + `"}}`, "the limit is 4096 bytes"},
		{"empty pod name", "bound_pod_names", []string{"web", " "}, "bound_pod_names: entry 1 is empty"},
		{"star with names", "bound_node_names", []string{"*", "node-a"}, `bound_node_names: "*" cannot be combined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			data := roleData()
			data[tc.field] = tc.value
			resp, err := e.do(logical.UpdateOperation, "role/"+testRole, data)
			requireBadRequest(t, resp, err, tc.want)
			if e.rawEntry(rolePrefix+testRole) != nil {
				t.Fatal("an invalid role was stored")
			}
		})
	}
}

func TestPodFieldsStoredAndRead(t *testing.T) {
	e := configured(t)
	e.writeRole(testRole, map[string]any{"bound_pod_names": "web-*", "token_bound_to_workload": true})
	raw := e.rawEntry(rolePrefix + testRole)
	if raw["token_bound_to_workload"] != true || raw["bound_pod_names"] == nil {
		t.Fatalf("stored %v", raw)
	}
	if _, ok := raw["bound_pod_label_selector"]; ok {
		t.Errorf("an unset selector is stored: %v", raw)
	}
	read := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data
	if got := read["bound_pod_names"].([]string); len(got) != 1 || got[0] != "web-*" {
		t.Errorf("bound_pod_names read %v", got)
	}
	if read["token_bound_to_workload"] != true || read["bound_pod_label_selector"] != "" {
		t.Errorf("read %v", read)
	}
	if got := read["bound_node_names"].([]string); len(got) != 0 {
		t.Errorf("bound_node_names read %v", got)
	}

	// Cleared, the fields leave storage and the read again.
	e.writeRole(testRole, map[string]any{"bound_pod_names": "", "token_bound_to_workload": false})
	raw = e.rawEntry(rolePrefix + testRole)
	for _, k := range []string{"bound_pod_names", "token_bound_to_workload"} {
		if _, ok := raw[k]; ok {
			t.Errorf("cleared %s is still stored: %v", k, raw)
		}
	}
	if _, ok := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data["token_bound_to_workload"]; ok {
		t.Error("a role that no longer uses the pod fields reads them")
	}
}

// Without a reviewer credential, fields that read pods or need renewal
// lookups warn on write.
func TestPodFieldsWarnWithoutReviewer(t *testing.T) {
	e := newTestEnv(t)
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
	data := roleData()
	data["token_bound_to_workload"] = true
	resp := e.mustDo(logical.UpdateOperation, "role/"+testRole, data)
	if resp == nil || !strings.Contains(strings.Join(resp.Warnings, "\n"), "token_bound_to_workload is set but the config has no reviewer credential") {
		t.Fatalf("no warning: %#v", resp)
	}

	e2 := configured(t) // with a reviewer credential
	data["token_bound_to_workload"] = true
	resp = e2.mustDo(logical.UpdateOperation, "role/"+testRole, data)
	if resp != nil && strings.Contains(strings.Join(resp.Warnings, "\n"), "token_bound_to_workload") {
		t.Fatalf("warning with a reviewer credential: %v", resp.Warnings)
	}
}

// explain says what the pod step decided: why it passed, or the refusal
// with its reason code.
func TestExplainPodStep(t *testing.T) {
	e := withPod(t, map[string]string{"app": "web"})
	e.writeRole(testRole, map[string]any{"bound_pod_names": "web-*", "bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`,
		"bound_node_names": "node-*"})
	out, _ := e.explain(testRole, e.podToken(testPodName, testPodUID, ""))
	requireStep(t, out, "pod", outcomePassed, "", `pod "`+testPodName+`" is in bound_pod_names`)
	requireStep(t, out, "pod", outcomePassed, "", "live labels match bound_pod_label_selector")
	requireStep(t, out, "pod", outcomePassed, "", `its node "`+testNodeName+`" is in bound_node_names`)

	out, _ = e.explain(testRole, e.token())
	requireStep(t, out, "pod", outcomeRefused, refusal.ReasonPodNotBound, "not bound to a pod")
	requireStep(t, out, "alias_metadata", outcomeSkipped, "", "not reached")
}

// The pod step costs a role without pod fields nothing: no allocation, no
// call (the attempt has no state, so any call would panic).
func TestPodStepFreeWithoutPodFields(t *testing.T) {
	a := &attempt{role: &roleEntry{}, reviewed: satoken.Identity{PodName: testPodName, PodUID: testPodUID}}
	ctx := t.Context()
	var b backend // no clock either: the step must not read it
	if n := testing.AllocsPerRun(100, func() { _ = b.stepPod(ctx, a) }); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
	if err := b.stepPod(ctx, a); err != nil {
		t.Fatal(err)
	}
}

// terminatingStates are pods deleted gracefully and still Terminating,
// their deletionTimestamp this far from now, and whether the API server
// still accepts the tokens bound to them: until the timestamp is more than
// a minute past, never after.
var terminatingStates = []struct {
	name    string
	deleted time.Duration // deletionTimestamp - now
	alive   bool
}{
	{"in its grace period", 30 * time.Second, true},
	{"grace period just ended", 0, true},
	{"terminating for 30s", -30 * time.Second, true},
	{"terminating for exactly 60s", -60 * time.Second, true},
	{"terminating for 61s", -61 * time.Second, false},
	{"terminating for an hour", -time.Hour, false},
}

// A pod stuck Terminating counts as gone once the API server would no
// longer accept its tokens, wherever the plugin reads the live pod: at a
// login that reads its labels or its node, and at the renewal of a
// token_bound_to_workload token.
func TestPodTerminatingCountsAsGone(t *testing.T) {
	reads := []struct {
		name string
		role map[string]any
	}{
		{"labels at login", map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`}},
		{"node at login", map[string]any{"bound_node_names": testNodeName}},
		{"workload at renewal", map[string]any{"token_bound_to_workload": true, "token_period": "1h"}},
	}
	for _, rd := range reads {
		for _, st := range terminatingStates {
			t.Run(rd.name+"/"+st.name, func(t *testing.T) {
				e := withPod(t, map[string]string{"app": "web"})
				clock := useTestClock(e)
				e.writeRole(testRole, rd.role)
				token := e.podToken(testPodName, testPodUID, "")
				login := e.requirePodLogin(token)

				e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName,
					labels: map[string]string{"app": "web"}, deleted: clock.Now().Add(st.deleted)})
				if rd.role["token_bound_to_workload"] == true {
					if st.alive {
						resp, err := e.renew(login.Auth)
						requireRenewed(t, resp, err)
					} else {
						e.requireRenewalRefused(login.Auth, refusal.ReasonPodNotBound, "deletionTimestamp")
					}
					return
				}
				resp, err := e.login(testRole, token)
				if st.alive {
					if err != nil || resp == nil || resp.Auth == nil {
						t.Fatalf("login refused for a pod the API server still accepts: err=%v\nlog:\n%s", err, e.logs.String())
					}
					return
				}
				e.requireDenied(resp, err, refusal.ReasonPodNotBound)
				if !strings.Contains(e.logs.String(), "deletionTimestamp") {
					t.Errorf("log does not say the pod was deleted:\n%s", e.logs.String())
				}
			})
		}
	}
}

// podState is what happens to the token's pod after the login.
type podState struct {
	name string
	// put sets the pod's new state (or deletes it) relative to now.
	put func(e *testEnv, now time.Time)
	// exists: the API server still counts the pod as the token's;
	// labeled: its labels still say app=web.
	exists, labeled bool
}

var podStates = []podState{
	{"live", func(*testEnv, time.Time) {}, true, true},
	{"relabeled", func(e *testEnv, _ time.Time) {
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName, labels: map[string]string{"app": "batch"}})
	}, true, false},
	{"deleted", func(e *testEnv, _ time.Time) { e.kube.deletePod(testkit.Namespace, testPodName) }, false, false},
	{"recreated", func(e *testEnv, _ time.Time) {
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: "0e0e0e0e-recreated", nodeName: testNodeName, labels: map[string]string{"app": "web"}})
	}, false, true},
	{"terminating for 30s", func(e *testEnv, now time.Time) {
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName, labels: map[string]string{"app": "web"},
			deleted: now.Add(-30 * time.Second)})
	}, true, true},
	{"terminating for 61s", func(e *testEnv, now time.Time) {
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, nodeName: testNodeName, labels: map[string]string{"app": "web"},
			deleted: now.Add(-61 * time.Second)})
	}, false, true},
}

// For every role that binds pods, every state of the pod after the login
// and every narrowing of the role's pod fields, a token renews only if a
// fresh login with the same JWT would pass: narrowing bound_pod_names,
// bound_node_names or bound_pod_label_selector reaches the tokens already
// issued, and a pod gone for the API server (deleted, recreated,
// terminating past a minute) stops a role that reads the live pod at
// login (labels) or at renewal (labels, token_bound_to_workload). The
// exact outcome of each follows from the bindings alone (want).
func TestRenewalAgreesWithLoginOnPods(t *testing.T) {
	roles := []struct {
		name   string
		fields map[string]any
	}{
		{"names", map[string]any{"bound_pod_names": "web-*"}},
		{"nodes", map[string]any{"bound_node_names": "node-*"}},
		{"labels", map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`}},
		{"workload", map[string]any{"token_bound_to_workload": true}},
		{"all", map[string]any{"bound_pod_names": "web-*", "bound_node_names": "node-*",
			"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`, "token_bound_to_workload": true}},
	}
	narrowings := []struct {
		name   string
		fields map[string]any // sent on top of the role: an update changes only these
	}{
		{"unchanged", nil},
		{"pod names", map[string]any{"bound_pod_names": "db-*"}},
		{"node names", map[string]any{"bound_node_names": "gpu-*"}},
		{"labels", map[string]any{"bound_pod_label_selector": `{"matchLabels":{"app":"db"}}`}},
	}
	for _, role := range roles {
		for _, st := range podStates {
			for _, nar := range narrowings {
				t.Run(role.name+"/"+st.name+"/"+nar.name, func(t *testing.T) {
					e := withPod(t, map[string]string{"app": "web"})
					e.kube.setSendNodeName(true) // the node comes from the review, as recent API servers send it
					clock := useTestClock(e)
					fields := map[string]any{"token_period": "1h"}
					maps.Copy(fields, role.fields)
					e.writeRole(testRole, fields)
					token := e.podToken(testPodName, testPodUID, testNodeName)
					issued := e.requirePodLogin(token).Auth

					st.put(e, clock.Now())
					if nar.fields != nil {
						e.mustDo(logical.UpdateOperation, "role/"+testRole, nar.fields)
					}
					maps.Copy(fields, nar.fields)
					_, selector := fields["bound_pod_label_selector"]
					workload := fields["token_bound_to_workload"] == true
					bound := nar.fields == nil && (!selector || (st.exists && st.labeled))
					wantLogin := bound
					wantRenew := bound && (!workload || st.exists)

					resp, err := e.login(testRole, token)
					loggedIn := err == nil && resp != nil && resp.Auth != nil
					resp, err = e.renew(issued)
					renewed := err == nil && resp != nil && resp.Auth != nil
					if renewed && !loggedIn {
						t.Errorf("the token renews, but a fresh login with its JWT is refused")
					}
					if loggedIn != wantLogin || renewed != wantRenew {
						t.Fatalf("login passed %v (want %v), renewal passed %v (want %v): %v\nlog:\n%s",
							loggedIn, wantLogin, renewed, wantRenew, err, e.logs.String())
					}
					if !renewed && !strings.HasPrefix(err.Error(), "renewal refused (") {
						t.Errorf("a renewal of a token that no longer fits is a fault: %v", err)
					}
				})
			}
		}
	}
}

// A token whose login recorded no pod (its role had no pod fields then)
// cannot show it is bound once the role binds pods, even to its own pod:
// a fresh login passes, the renewal is refused.
func TestRenewalRefusesTokenWithoutPodOnceRoleBindsPods(t *testing.T) {
	for _, field := range []map[string]any{
		{"bound_pod_names": "web-*"},
		{"bound_node_names": testNodeName},
		{"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`},
	} {
		e := withPod(t, map[string]string{"app": "web"})
		e.writeRole(testRole, map[string]any{"token_period": "1h"})
		token := e.podToken(testPodName, testPodUID, "")
		issued := e.requirePodLogin(token).Auth
		if _, ok := issued.Metadata[metaPodName]; ok {
			t.Fatalf("a role without pod fields recorded the pod: %v", issued.Metadata)
		}
		resp, err := e.renew(issued)
		requireRenewed(t, resp, err)

		e.mustDo(logical.UpdateOperation, "role/"+testRole, field)
		e.requirePodLogin(token)
		e.requireRenewalRefused(issued, refusal.ReasonPodNotBound, "recorded none")
	}
}

// The renewal reads the live pod only when a binding needs it, with the
// reviewer credential, once: not for names, nor for a node the token's
// metadata names; for a node it does not (its role bound no nodes at login)
// the pod's spec.nodeName decides, as at login.
func TestRenewalReadsThePodOnlyWhenNeeded(t *testing.T) {
	e := withPod(t, map[string]string{"app": "web"})
	e.writeRole(testRole, map[string]any{"bound_pod_names": "web-*", "token_period": "1h"})
	issued := e.requirePodLogin(e.podToken(testPodName, testPodUID, "")).Auth
	if _, ok := issued.Metadata[metaNodeName]; ok {
		t.Fatalf("no one read the node, yet the metadata has one: %v", issued.Metadata)
	}
	renewReads := func() int64 {
		t.Helper()
		before := e.kube.podGets.Load()
		resp, err := e.renew(issued)
		requireRenewed(t, resp, err)
		return e.kube.podGets.Load() - before
	}
	if n := renewReads(); n != 0 {
		t.Errorf("bound_pod_names alone: %d pod GETs at renewal", n)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"bound_node_names": testNodeName})
	if n := renewReads(); n != 1 {
		t.Errorf("a node the metadata lacks: %d pod GETs, want 1", n)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"bound_node_names": "gpu-*"})
	e.requireRenewalRefused(issued, refusal.ReasonNodeNotBound, `node "`+testNodeName+`"`)

	// Labels and token_bound_to_workload both need the pod: one GET.
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"bound_node_names": "",
		"bound_pod_label_selector": `{"matchLabels":{"app":"web"}}`, "token_bound_to_workload": true})
	if n := renewReads(); n != 1 {
		t.Errorf("labels and token_bound_to_workload: %d pod GETs, want 1", n)
	}

	// Without a reviewer credential the labels cannot be read: refused.
	e.writeConfig(map[string]any{"token_reviewer_jwt": "", "disable_local_ca_jwt": true})
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"token_bound_to_workload": false})
	e.requireRenewalRefused(issued, refusal.ReasonReviewerRequired, "bound_pod_label_selector")
}
