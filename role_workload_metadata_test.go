package kubeauth

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// labelUniverse are the label keys the invariant draws from: a plain key,
// prefixed keys whose '.' must be rewritten, and keys named like the
// plugin's own metadata, which must never reach those keys.
var labelUniverse = []string{
	"app", "tier", "app.kubernetes.io/name", "example.com/team", "version",
	"service_account_namespace", "owner_name", "cluster", "role",
}

// labelValues include values no API server would store (too long, a
// space): they are left out, never cut.
var labelValues = []string{"web", "front", "v1.2.3", "a_b-c.d", "", strings.Repeat("x", 63), strings.Repeat("x", 64), "has space"}

// For roles listing random subsets of the label keys, and pods carrying
// random labels with random values: a login copies exactly the listed
// labels the pod has with a valid value, into both the token's and the
// alias's metadata under pod_label_<key with '.' as '_'>, nothing else, and
// the plugin's own keys keep the service account's values whatever the
// labels are called.
func TestWorkloadLabelsInvariant(t *testing.T) {
	e := configured(t)
	token := e.podToken(testPodName, testPodUID, "")
	rng := rand.New(rand.NewPCG(20, 12))
	for i := range 60 {
		var listed []string
		for _, k := range labelUniverse {
			if rng.IntN(2) == 0 {
				listed = append(listed, k)
			}
		}
		if len(listed) == 0 {
			listed = []string{"app"}
		}
		podLabels := map[string]string{}
		for _, k := range labelUniverse {
			if rng.IntN(3) > 0 {
				podLabels[k] = labelValues[rng.IntN(len(labelValues))]
			}
		}
		e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, labels: podLabels})
		e.writeRole(testRole, map[string]any{"alias_metadata_pod_labels": listed})

		auth := e.mustLogin(testRole, token)
		want := map[string]string{}
		for _, k := range listed {
			v, ok := podLabels[k]
			if ok && len(v) <= 63 && !strings.Contains(v, " ") {
				want["pod_label_"+strings.ReplaceAll(k, ".", "_")] = v
			}
		}
		for name, md := range map[string]map[string]string{"token": auth.Metadata, "alias": auth.Alias.Metadata} {
			got := map[string]string{}
			for k, v := range md {
				if strings.HasPrefix(k, metaPodLabelPrefix) {
					got[k] = v
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("case %d, %s metadata: pod labels %v, want %v (listed %q, pod %v)", i, name, got, want, listed, podLabels)
			}
			if md[metaSANamespace] != testkit.Namespace || md[metaSAName] != testkit.SAName || md[metaSAUID] != testkit.SAUID {
				t.Fatalf("case %d, %s metadata: the service account's keys changed: %v", i, name, md)
			}
			if _, ok := md[metaOwnerName]; ok {
				t.Fatalf("case %d, %s metadata: an owner without alias_metadata_owner: %v", i, name, md)
			}
		}
		if auth.Metadata[metaRole] != testRole {
			t.Fatalf("case %d: role metadata %q", i, auth.Metadata[metaRole])
		}
	}
}

// ownerCase is a pod's owner references, the ReplicaSets and Jobs the
// fake API server holds, and the owner a login must report.
type ownerCase struct {
	name   string
	owners []metav1.OwnerReference
	owned  map[string]metav1.ObjectMeta // "replicasets/name" or "jobs/name"
	// wantKind and wantName: "" for no owner keys.
	wantKind, wantName string
	wantGets           int64
}

func controllerRef(apiVersion, kind, name, uid string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}
}

func ownedBy(name, uid string, owners ...metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, UID: types.UID(uid), OwnerReferences: owners}
}

func ownerCases() []ownerCase {
	rs := controllerRef("apps/v1", "ReplicaSet", "web-7d4b9c", "rs-uid")
	job := controllerRef("batch/v1", "Job", "report-2891", "job-uid")
	deploy := controllerRef("apps/v1", "Deployment", "web", "deploy-uid")
	cron := controllerRef("batch/v1", "CronJob", "report", "cron-uid")
	notController := deploy
	notController.Controller = nil
	return []ownerCase{
		{name: "no owner"},
		{name: "an owner that is not the controller", owners: []metav1.OwnerReference{notController}},
		{name: "a StatefulSet, reported as is", owners: []metav1.OwnerReference{controllerRef("apps/v1", "StatefulSet", "db", "sts-uid")},
			wantKind: "StatefulSet", wantName: "db"},
		{name: "a ReplicaSet of a Deployment", owners: []metav1.OwnerReference{rs},
			owned:    map[string]metav1.ObjectMeta{"replicasets/web-7d4b9c": ownedBy("web-7d4b9c", "rs-uid", deploy)},
			wantKind: "Deployment", wantName: "web", wantGets: 1},
		{name: "a ReplicaSet of no one", owners: []metav1.OwnerReference{rs},
			owned:    map[string]metav1.ObjectMeta{"replicasets/web-7d4b9c": ownedBy("web-7d4b9c", "rs-uid")},
			wantKind: "ReplicaSet", wantName: "web-7d4b9c", wantGets: 1},
		{name: "a ReplicaSet that is gone", owners: []metav1.OwnerReference{rs},
			wantKind: "ReplicaSet", wantName: "web-7d4b9c", wantGets: 1},
		{name: "another ReplicaSet by that name claims a Deployment", owners: []metav1.OwnerReference{rs},
			owned: map[string]metav1.ObjectMeta{"replicasets/web-7d4b9c": ownedBy("web-7d4b9c", "impostor-uid",
				controllerRef("apps/v1", "Deployment", "payments", "pay-uid"))},
			wantKind: "ReplicaSet", wantName: "web-7d4b9c", wantGets: 1},
		{name: "a ReplicaSet of another controller", owners: []metav1.OwnerReference{rs},
			owned: map[string]metav1.ObjectMeta{"replicasets/web-7d4b9c": ownedBy("web-7d4b9c", "rs-uid",
				controllerRef("argoproj.io/v1alpha1", "Rollout", "web", "ro-uid"))},
			wantKind: "ReplicaSet", wantName: "web-7d4b9c", wantGets: 1},
		{name: "a ReplicaSet of another API version is not read", owners: []metav1.OwnerReference{controllerRef("extensions/v1beta1", "ReplicaSet", "old", "old-uid")},
			wantKind: "ReplicaSet", wantName: "old"},
		{name: "a Job of a CronJob", owners: []metav1.OwnerReference{job},
			owned:    map[string]metav1.ObjectMeta{"jobs/report-2891": ownedBy("report-2891", "job-uid", cron)},
			wantKind: "CronJob", wantName: "report", wantGets: 1},
		{name: "a Job of no one", owners: []metav1.OwnerReference{job},
			owned:    map[string]metav1.ObjectMeta{"jobs/report-2891": ownedBy("report-2891", "job-uid")},
			wantKind: "Job", wantName: "report-2891", wantGets: 1},
		{name: "a Job whose owner claims to be a Deployment", owners: []metav1.OwnerReference{job},
			owned:    map[string]metav1.ObjectMeta{"jobs/report-2891": ownedBy("report-2891", "job-uid", deploy)},
			wantKind: "Job", wantName: "report-2891", wantGets: 1},
	}
}

// Every owner layout gives the owner the docs promise, in both metadata
// maps, reading no more than the one ReplicaSet or Job; the reports never
// name an object whose UID did not match.
func TestWorkloadOwnerCases(t *testing.T) {
	for _, c := range ownerCases() {
		t.Run(c.name, func(t *testing.T) {
			e := configured(t)
			e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, owners: c.owners})
			for key, meta := range c.owned {
				resource, _, _ := strings.Cut(key, "/")
				e.kube.putOwned(resource, testkit.Namespace, meta)
			}
			e.writeRole(testRole, map[string]any{"alias_metadata_owner": true})
			auth := e.mustLogin(testRole, e.podToken(testPodName, testPodUID, ""))
			for name, md := range map[string]map[string]string{"token": auth.Metadata, "alias": auth.Alias.Metadata} {
				kind, hasKind := md[metaOwnerKind]
				owner, hasName := md[metaOwnerName]
				if c.wantKind == "" {
					if hasKind || hasName {
						t.Fatalf("%s metadata has an owner: %v", name, md)
					}
					continue
				}
				if kind != c.wantKind || owner != c.wantName {
					t.Fatalf("%s metadata owner %s/%s, want %s/%s", name, kind, owner, c.wantKind, c.wantName)
				}
			}
			if got := e.kube.ownerGets.Load(); got != c.wantGets {
				t.Fatalf("%d ReplicaSet or Job reads, want %d", got, c.wantGets)
			}
			if got := e.kube.podGets.Load(); got != 1 {
				t.Fatalf("%d pod reads, want 1", got)
			}
		})
	}
}

// A pod that is not the token's any more is refused, as a selector-bound
// role refuses it; a read the reviewer may not make is the operator's
// fault (500, naming the permission), never a login with a vaguer owner.
func TestWorkloadMetadataRefusals(t *testing.T) {
	rs := controllerRef("apps/v1", "ReplicaSet", "web-7d4b9c", "rs-uid")
	for _, fields := range []map[string]any{
		{"alias_metadata_owner": true},
		{"alias_metadata_pod_labels": "app"},
	} {
		t.Run(fmt.Sprint(fields), func(t *testing.T) {
			e := configured(t)
			e.writeRole(testRole, fields)
			token := e.podToken(testPodName, testPodUID, "")

			resp, err := e.login(testRole, token) // no such pod
			e.requireDenied(resp, err, refusal.ReasonPodNotBound)

			e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: "0b7c3f0e-1111-4a2b-9c3d-000000000001"})
			resp, err = e.login(testRole, token) // recreated under the same name
			e.requireDenied(resp, err, refusal.ReasonPodNotBound)

			e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, deleted: time.Now().Add(-2 * podDeletionLeeway)})
			resp, err = e.login(testRole, token) // deleted, only awaiting removal
			e.requireDenied(resp, err, refusal.ReasonPodNotBound)

			// Bound to no pod: nothing to copy, and nothing read.
			gets := e.kube.podGets.Load()
			auth := e.mustLogin(testRole, e.token())
			for k := range auth.Metadata {
				if strings.HasPrefix(k, metaPodLabelPrefix) || k == metaOwnerKind || k == metaOwnerName {
					t.Fatalf("a token bound to no pod got %s: %v", k, auth.Metadata)
				}
			}
			if e.kube.podGets.Load() != gets {
				t.Fatal("a token bound to no pod made the plugin read a pod")
			}
		})
	}

	e := configured(t)
	e.writeRole(testRole, map[string]any{"alias_metadata_owner": true})
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, owners: []metav1.OwnerReference{rs}})
	e.kube.answerStatus("/apis/apps/v1/namespaces/"+testkit.Namespace+"/replicasets/web-7d4b9c", http.StatusForbidden, "forbidden")
	resp, err := e.login(testRole, e.podToken(testPodName, testPodUID, ""))
	e.requireKubeFault(resp, err, "get on replicasets.apps and jobs.batch")
}

// A service-account annotation may not set a key the role's fields set,
// whichever comes first; on a role without the fields the same annotation
// is only metadata, as it always was.
func TestWorkloadMetadataAnnotationConflict(t *testing.T) {
	e := configured(t)
	e.writeConfig(map[string]any{"use_annotations_as_alias_metadata": true})
	e.kube.putPod(testkit.Namespace, testPodName, fakePod{uid: testPodUID, labels: map[string]string{"app": "web"}})
	token := e.podToken(testPodName, testPodUID, "")
	for _, c := range []struct {
		annotation string
		fields     map[string]any
	}{
		{"owner_kind", map[string]any{"alias_metadata_owner": true}},
		{"owner_name", map[string]any{"alias_metadata_owner": true}},
		{"pod_label_app", map[string]any{"alias_metadata_pod_labels": "app"}},
		{"pod_label_other", map[string]any{"alias_metadata_pod_labels": "app"}},
	} {
		e.kube.addServiceAccount(testkit.Namespace, testkit.SAName, testkit.SAUID,
			map[string]string{aliasMetadataAnnotationPrefix + c.annotation: "forged"})
		e.writeRole(testRole, map[string]any{"alias_metadata_owner": false, "alias_metadata_pod_labels": ""})
		if auth := e.mustLogin(testRole, token); auth.Alias.Metadata[c.annotation] != "forged" {
			t.Fatalf("without the role's fields, annotation %s is plain metadata: %v", c.annotation, auth.Alias.Metadata)
		}
		e.writeRole(testRole, c.fields)
		resp, err := e.login(testRole, token)
		requireBadRequest(t, resp, err, c.annotation)
	}
}

// Bad values are a 400 naming the field, and store nothing.
func TestWorkloadMetadataFieldsRefusedStoreNothing(t *testing.T) {
	e := configured(t)
	tooMany := make([]string, maxPodLabelKeys+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("k%d", i)
	}
	for _, c := range []struct {
		value any
		want  string
	}{
		{"Bad Key", "not a label key"},
		{"-app", "not a label key"},
		{"a/b/c", "not a label key"},
		{"UPPER.example.com/x", "not a label key"},
		{tooMany, "the limit is 16"},
		{[]string{"a.b", "a_b"}, "would both be the metadata key"},
		{strings.Repeat("a", 120) + ".example.com/name", "longer than the 128 characters"},
	} {
		e.requireBadWrite("role/"+testRole, map[string]any{"alias_metadata_pod_labels": c.value}, "alias_metadata_pod_labels")
		e.requireBadWrite("role/"+testRole, map[string]any{"alias_metadata_pod_labels": c.value}, c.want)
		e.requireBadWrite("role/new-role", map[string]any{
			"bound_service_account_names": "*", "bound_service_account_namespaces": "*", "alias_metadata_pod_labels": c.value,
		}, c.want)
	}
	e.requireBadWrite("role/"+testRole, map[string]any{"alias_metadata_owner": "maybe"}, "alias_metadata_owner")
}

// The fields read back only when set, both of them then; a PATCH of one
// keeps the other; clearing both reads as a role without them.
func TestWorkloadMetadataReadBack(t *testing.T) {
	e := configured(t)
	read := e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data
	for _, k := range []string{"alias_metadata_pod_labels", "alias_metadata_owner"} {
		if _, ok := read[k]; ok {
			t.Fatalf("a role without the fields reads %s", k)
		}
	}
	e.writeRole(testRole, map[string]any{"alias_metadata_pod_labels": "app,app.kubernetes.io/name"})
	read = e.mustDo(logical.ReadOperation, "role/"+testRole, nil).Data
	if fmt.Sprint(read["alias_metadata_pod_labels"]) != "[app app.kubernetes.io/name]" || read["alias_metadata_owner"] != false {
		t.Fatalf("read %v", read)
	}
	e.mustDo(logical.PatchOperation, "role/"+testRole, map[string]any{"alias_metadata_owner": true})
	raw := e.rawEntry(rolePrefix + testRole)
	if fmt.Sprint(raw["alias_metadata_pod_labels"]) != "[app app.kubernetes.io/name]" || raw["alias_metadata_owner"] != true {
		t.Fatalf("stored after PATCH %v", raw)
	}
	e.mustDo(logical.UpdateOperation, "role/"+testRole, map[string]any{"alias_metadata_pod_labels": "", "alias_metadata_owner": false})
	raw = e.rawEntry(rolePrefix + testRole)
	for _, k := range []string{"alias_metadata_pod_labels", "alias_metadata_owner"} {
		if _, ok := raw[k]; ok {
			t.Fatalf("cleared, storage still has %s: %v", k, raw)
		}
	}
}

// With a pod selector too, the pod is read once per login; explain names
// what was copied.
func TestWorkloadMetadataSharesThePodRead(t *testing.T) {
	e := withPod(t, map[string]string{"app": "web", "app.kubernetes.io/name": "shop"})
	e.writeRole(testRole, map[string]any{
		"bound_pod_label_selector":  `{"matchLabels":{"app":"web"}}`,
		"alias_metadata_pod_labels": "app.kubernetes.io/name",
	})
	token := e.podToken(testPodName, testPodUID, "")
	auth := e.mustLogin(testRole, token)
	if auth.Alias.Metadata["pod_label_app_kubernetes_io/name"] != "shop" {
		t.Fatalf("alias metadata %v", auth.Alias.Metadata)
	}
	if got := e.kube.podGets.Load(); got != 1 {
		t.Fatalf("%d pod reads for one login, want 1", got)
	}
	out, _ := e.explain(testRole, token)
	requireStep(t, out, "workload_metadata", outcomePassed, "", "pod_label_app_kubernetes_io/name=shop")
}

// vaultMetadataKey is the rule Vault's identity store holds alias metadata
// keys to; a login whose alias breaks it fails inside Vault.
func vaultMetadataKey(k string) bool {
	if k == "" || len(k) > 128 || strings.HasPrefix(k, "vault-") {
		return false
	}
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("=/+_-", c):
		default:
			return false
		}
	}
	return true
}

// FuzzPodLabelKeys: any list a write may send is refused, or gives at most
// 16 distinct metadata keys that Vault accepts, each a pod_label_ key.
func FuzzPodLabelKeys(f *testing.F) {
	for _, seed := range []string{"app", "app.kubernetes.io/name,app", "a.b,a_b", "Bad Key", strings.Repeat("a.", 70) + "com/x", "vault-x", "x/y/z", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, list string) {
		keys := strings.Split(list, ",")
		if validatePodLabelKeys(keys) != nil {
			return
		}
		if len(keys) > maxPodLabelKeys {
			t.Fatalf("%d keys accepted", len(keys))
		}
		seen := map[string]bool{}
		for _, k := range keys {
			mk := podLabelMetadataKey(k)
			if !vaultMetadataKey(mk) || !strings.HasPrefix(mk, metaPodLabelPrefix) || seen[mk] {
				t.Fatalf("label key %q accepted as metadata key %q", k, mk)
			}
			seen[mk] = true
		}
	})
}
