package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// pathLoginRenew renews a token only while its role exists, grants exactly
// the token's policies (a narrowed role must not leave a periodic token its
// old access), still binds the token's service account and pod and, with
// token_bound_to_workload, while the workload still exists; the TTLs come
// from the role as it is now. A renewal that is refused or fails is logged
// as a login is, and the token holder is told no more than a login's
// caller.
func (b *backend) pathLoginRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	r := &renewal{b: b, storage: req.Storage, auth: req.Auth, now: b.now()}
	defer r.release()
	if err := r.check(ctx); err != nil {
		return nil, b.renewalFailed(r, req.Connection, err)
	}
	resp := &logical.Response{Auth: req.Auth}
	resp.Auth.TTL = r.role.TokenTTL
	resp.Auth.MaxTTL = r.role.TokenMaxTTL
	resp.Auth.Period = r.role.TokenPeriod
	return resp, nil
}

// A renewal is one token renewal as it is checked: the token Vault hands
// back, and what the checks learn on the way.
type renewal struct {
	b       *backend
	storage logical.Storage
	auth    *logical.Auth
	now     time.Time

	roleName string
	role     *roleEntry
	// cluster is the cluster the token's login came from (recorded only
	// on mounts with named clusters; else the default one).
	cluster string
	// state is the cluster's, once a check needs Kubernetes (the renewal
	// releases it).
	state *liveCluster
	// pod and podErr are the token's pod as read, once a check needs it:
	// a renewal reads it at most once.
	pod    *corev1.Pod
	podErr error
}

func (r *renewal) release() {
	if r.state != nil {
		r.state.release()
	}
}

// metadata is the token's metadata: what the login recorded.
func (r *renewal) metadata(key string) string {
	if r.auth == nil {
		return ""
	}
	return r.auth.Metadata[key]
}

// check runs the renewal's checks in order; the first error ends it.
func (r *renewal) check(ctx context.Context) error {
	if r.auth == nil {
		return errors.New("the renewal request carries no auth")
	}
	r.roleName, _ = r.auth.InternalData[metaRole].(string)
	r.cluster, _ = r.auth.InternalData[metaCluster].(string)
	if r.cluster == "" {
		r.cluster = defaultCluster
	}
	if r.roleName == "" {
		return errors.New("the token does not name its role (internal data has no role)")
	}
	role, err := r.b.roles.get(ctx, r.storage, r.roleName)
	if err != nil {
		return err
	}
	if role == nil {
		return refusal.New(refusal.ReasonRoleGone, "role %q no longer exists", r.roleName)
	}
	r.role = role
	if have, want := renewedPolicies(r.auth), rolePolicies(role); !slices.Equal(have, want) {
		return refusal.New(refusal.ReasonPoliciesChanged, "the token's policies %q no longer match role %q's policies %q", have, r.roleName, want)
	}
	if err := r.checkCluster(ctx); err != nil {
		return err
	}
	if err := r.checkStillBound(ctx); err != nil {
		return err
	}
	if err := r.checkPods(ctx); err != nil {
		return err
	}
	if role.TokenBoundToWorkload {
		return r.checkWorkload(ctx)
	}
	return nil
}

// checkCluster: the role must still accept the token's cluster and, for a
// named cluster, the mount still have it.
func (r *renewal) checkCluster(ctx context.Context) error {
	if !r.role.bindsCluster(r.cluster) {
		return refusal.New(refusal.ReasonClusterNotBound, "role %q no longer accepts tokens from cluster %q (bound_clusters %q)",
			r.roleName, r.cluster, r.role.boundClusters())
	}
	if r.cluster == defaultCluster {
		return nil
	}
	cfg, err := loadClusterConfig(ctx, r.storage, r.cluster)
	if err != nil {
		return err
	}
	if cfg == nil {
		return refusal.New(refusal.ReasonClusterUnknown, "cluster %q no longer exists", r.cluster)
	}
	return nil
}

// checkStillBound re-applies the role's service-account bindings. Only a
// namespace selector needs Kubernetes.
func (r *renewal) checkStillBound(ctx context.Context) error {
	name, namespace := r.metadata(metaSAName), r.metadata(metaSANamespace)
	if err := checkServiceAccountName(r.role, name); err != nil {
		return err
	}
	if namespaceBoundByGlob(r.role, namespace) || r.role.ServiceAccountNamespaceSelector == "" {
		return checkNamespace(ctx, r.role, nil, "", namespace)
	}
	client, err := r.kube(ctx, "the namespace selector")
	if err != nil {
		return err
	}
	return checkNamespace(ctx, r.role, client, "", namespace)
}

// checkPods re-applies the role's pod and node bindings to the pod the
// token's metadata names, as a login applies them to the pod the review
// names: names from the metadata, labels (and a node the metadata lacks)
// from the live pod. A token whose login recorded no pod (it was bound to
// none, or its role had no pod fields then) cannot show it is bound.
func (r *renewal) checkPods(ctx context.Context) error {
	p := &r.role.podBindings
	if !p.bindsPod() {
		return nil
	}
	pod := boundPod{namespace: r.metadata(metaSANamespace), name: r.metadata(metaPodName),
		uid: r.metadata(metaPodUID), node: r.metadata(metaNodeName)}
	if pod.name == "" || pod.uid == "" {
		return refusal.New(refusal.ReasonPodNotBound, "role %q binds pods, and the token's login recorded none (its JWT was bound to no pod, "+
			"or the role had no pod fields then): log in again", r.roleName)
	}
	return checkPodBindings(ctx, p, &pod, r.now, func(ctx context.Context) (*corev1.Pod, error) {
		return r.livePod(ctx, pod.namespace, pod.name, "bound_pod_label_selector or bound_node_names")
	})
}

// livePod reads the token's pod with the reviewer credential, once.
func (r *renewal) livePod(ctx context.Context, namespace, name, what string) (*corev1.Pod, error) {
	if r.pod != nil || r.podErr != nil {
		return r.pod, r.podErr
	}
	client, err := r.kube(ctx, what)
	if err != nil {
		return nil, err // not kept: the next check says what it needed
	}
	r.pod, r.podErr = readPod(ctx, client, "", namespace, name)
	return r.pod, r.podErr
}

// kube is the token's cluster's client with its reviewer credential: the
// login JWT is long gone, so without a reviewer nothing can be looked up,
// and what needed the lookup is refused.
func (r *renewal) kube(ctx context.Context, what string) (*kube.Client, error) {
	if r.state == nil {
		state, err := r.b.liveCluster(ctx, r.storage, r.cluster)
		if err != nil {
			return nil, err
		}
		if state == nil {
			return nil, fmt.Errorf("cluster %q is not configured", r.cluster)
		}
		r.state = state
	}
	if !r.state.hasReviewer() {
		return nil, refusal.New(refusal.ReasonReviewerRequired, "%s cannot be re-checked without a reviewer credential (token_reviewer_jwt)", what)
	}
	return r.state.kube, nil
}

// rolePolicies are the token policies a login with the role gets now, as
// Vault records them: lower-cased, with "default" unless
// token_no_default_policy, sorted.
func rolePolicies(r *roleEntry) []string {
	return normalizePolicies(r.TokenPolicies, !r.TokenNoDefaultPolicy)
}

// renewedPolicies are the token policies of the token being renewed, in the
// same form. Vault hands back what it recorded at login: TokenPolicies, and
// Policies, which adds the entity's identity policies (IdentityPolicies).
// TokenPolicies is empty for a token without token policies, and for tokens
// from Vault versions that recorded Policies alone, hence the fallback.
func renewedPolicies(auth *logical.Auth) []string {
	policies := auth.TokenPolicies
	if len(policies) == 0 {
		policies = slices.DeleteFunc(slices.Clone(auth.Policies), func(p string) bool {
			return slices.Contains(auth.IdentityPolicies, p)
		})
	}
	return normalizePolicies(policies, !auth.NoDefaultPolicy)
}

func normalizePolicies(policies []string, addDefault bool) []string {
	out := policyutil.SanitizePolicies(slices.Clone(policies), addDefault)
	slices.Sort(out)
	return out
}

// renewalFailed logs why a renewal was refused or failed, with the fields
// of a login's "login refused" or "login failed" line, and returns what
// the token holder is told instead.
func (b *backend) renewalFailed(r *renewal, conn *logical.Connection, err error) error {
	o := refusal.Classify(err)
	args := append([]any{"role", r.roleName}, o.LogFields()...)
	args = append(args, "remote_addr", remoteAddr(conn), "cluster", r.cluster)
	if ns, name := r.metadata(metaSANamespace), r.metadata(metaSAName); name != "" {
		args = append(args, "service_account", ns+"/"+name)
	}
	if o.Class == refusal.Refused {
		b.Logger().Info("renewal refused", args...)
	} else {
		b.Logger().Error("renewal failed", args...)
	}
	return renewalAnswer(r, err)
}

// renewalAnswer is what the token holder is told of a renewal that did not
// pass: a fixed sentence with the reason code or fault kind. The holder
// learns nothing of the setup (the API server's address, a TLS or RBAC
// problem, the role's bindings), which is in the log. Only refusals that
// restate what the token itself says, and what to do, say more: the role
// is gone, its policies changed (log in again), its cluster is no longer
// accepted or gone.
func renewalAnswer(r *renewal, err error) error {
	o := refusal.Classify(err)
	if o.Class != refusal.Refused {
		kind := o.Code
		if kind == refusal.FaultInternal || kind == refusal.FaultNotConfigured {
			return fmt.Errorf("renewal failed (%s): an internal error; see the Vault server log", kind)
		}
		return fmt.Errorf("renewal failed (%s): the Kubernetes API could not be reached or refused the check; see the Vault server log", kind)
	}
	switch o.Code {
	case refusal.ReasonRoleGone:
		return fmt.Errorf("renewal refused (%s): role %q no longer exists", o.Code, r.roleName)
	case refusal.ReasonPoliciesChanged:
		return fmt.Errorf("renewal refused (%s): the token's policies no longer match role %q's; log in again to get the role's current policies",
			o.Code, r.roleName)
	case refusal.ReasonClusterNotBound:
		return fmt.Errorf("renewal refused (%s): role %q no longer accepts tokens from cluster %q", o.Code, r.roleName, r.cluster)
	case refusal.ReasonClusterUnknown:
		return fmt.Errorf("renewal refused (%s): cluster %q no longer exists", o.Code, r.cluster)
	}
	return fmt.Errorf("renewal refused (%s) by role %q; see the Vault server log", o.Code, r.roleName)
}
