package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// review_mode=local: every token is verified against the cluster's keys
// (pem_keys, the API server's published keys, or jwks_url) and none is ever
// reviewed, for clusters that workloads can reach but Vault cannot review
// against. It is hybrid mode without the fallback: where hybrid reviews a
// token the keys cannot vouch for, local mode refuses it (a kid the keys do
// not hold) or fails (keys or issuer that cannot be read). What it gives
// up is what only a TokenReview sees: a deleted service account or pod is
// noticed when its token is older than local_max_token_age, which is why
// that bound is required, or by a lookup where the role makes one.
//
// The login JWT is never sent anywhere in local mode: not to fetch keys
// (the key set fetches on no login's behalf), and not for the lookups a
// role needs (the namespace's labels, the pod, the service account's
// annotations), which run with the reviewer credential or not at all.

// validateLocalSettings checks a local-mode role: an audience, as hybrid
// mode needs (a token verified without a TokenReview must be one minted
// for Vault), and an explicit local_max_token_age, the one bound on how
// long a deleted workload's token keeps logging in.
func validateLocalSettings(s *reviewSettings, audiences []string) error {
	if s.mode() != reviewLocal {
		return nil
	}
	if len(audiences) == 0 {
		return errors.New(`review_mode: "local" needs audience: set audience (for example "vault"), or audiences, so a token verified ` +
			`without a TokenReview is one minted for Vault`)
	}
	if s.LocalMaxTokenAge <= 0 {
		return fmt.Errorf(`local_max_token_age: is required with review_mode "local" (from 1s to %s): a token older than it is refused, `+
			`and it bounds how long a deleted service account or pod can still log in`, maxLocalMaxTokenAge)
	}
	return nil
}

// checkLocalAge refuses, before any key is looked at, what local mode
// cannot vouch for by age: a token that is not a bound token (a legacy
// Secret-based token never expires and names no object whose deletion its
// age would bound), one without iat, and one older than maxAge.
func checkLocalAge(c *satoken.Claims, now time.Time, maxAge time.Duration) error {
	k := c.Kubernetes
	if k == nil || k.Secret != nil || c.Expiry == nil {
		return refusal.New(refusal.ReasonClaims, "review_mode local accepts only bound service-account tokens (projected or "+
			"requested, with exp and iat); a legacy Secret-based token can only be reviewed")
	}
	if c.IssuedAt == nil {
		return refusal.New(refusal.ReasonTokenTooOld, "the token has no iat, so its age cannot be held to local_max_token_age %s", maxAge)
	}
	if age := now.Sub(c.IssuedAt.Time()); age > maxAge {
		return refusal.New(refusal.ReasonTokenTooOld, "the token was issued %s ago, more than local_max_token_age %s",
			age.Round(time.Second), maxAge)
	}
	return nil
}

// verifyLocalOnly is the review step of local mode: the age, then the
// cluster's keys, then whether the lookups the login still needs have a
// credential. It makes no TokenReview whatever the token.
func (b *backend) verifyLocalOnly(ctx context.Context, a *attempt) error {
	a.verifiedBy = verifiedByLocal
	if err := checkLocalAge(&a.token.Claims, b.now(), a.role.maxTokenAge()); err != nil {
		return err
	}
	err := b.verifyLocally(ctx, a)
	var unvouched *keysCannotVouch
	if errors.As(err, &unvouched) {
		return localCannotVouch(unvouched)
	}
	if err != nil {
		return err
	}
	if what := lookupsNeeded(a); len(what) > 0 && !a.state.hasReviewer() {
		return refusal.New(refusal.ReasonReviewerRequired, "review_mode local: %s needs a lookup and the cluster has no reviewer "+
			"credential; the login JWT is never sent to the API server in local mode", strings.Join(what, " and "))
	}
	return nil
}

// localCannotVouch is what local mode makes of keys that cannot vouch
// either way: a kid the cluster's keys do not hold (also after the refresh
// the throttle allows) is a refusal, as is a token without a kid; keys or
// an issuer that cannot be read are a fault of the setup, of the kind the
// fetch's error says, and the token is not reviewed instead.
func localCannotVouch(e *keysCannotVouch) error {
	if isUnknownKey(e.err) {
		return refusal.New(refusal.ReasonSigningKeyUnknown, "review_mode local: %s", e.why)
	}
	return fmt.Errorf("review_mode local: %w", e)
}

// lookupsNeeded names the lookups this login still makes after the review
// step: the namespace's labels for a selector, the pod for its labels or
// node, the service account's annotations.
func lookupsNeeded(a *attempt) []string {
	var what []string
	if a.selectorPending {
		what = append(what, "bound_service_account_namespace_selector")
	}
	if p := &a.role.podBindings; p.bindsPod() && p.needsPodLookup(a.reviewed.NodeName != "") {
		what = append(what, "bound_pod_label_selector or bound_node_names")
	}
	if a.state.config.UseAnnotationsAsAliasMetadata {
		what = append(what, "use_annotations_as_alias_metadata")
	}
	if a.role.workloadMetadata.used() && a.reviewed.PodName != "" {
		what = append(what, "alias_metadata_pod_labels or alias_metadata_owner")
	}
	return what
}

// roleLookups names the fields of a role, and of cfg, that can make a
// login or renewal look something up in the cluster.
func roleLookups(r *roleEntry, cfg *clusterConfig) []string {
	var what []string
	if r.ServiceAccountNamespaceSelector != "" {
		what = append(what, "bound_service_account_namespace_selector")
	}
	if r.readsPods() {
		what = append(what, "bound_pod_label_selector, bound_node_names, token_bound_to_workload, alias_metadata_pod_labels or alias_metadata_owner")
	}
	if cfg.UseAnnotationsAsAliasMetadata {
		what = append(what, "the cluster's use_annotations_as_alias_metadata")
	}
	return what
}

// checkLocalRoleLookups refuses a local-mode role whose logins would need
// a lookup in a cluster that has no credential to look up with: local mode
// never sends the login JWT, so such logins could only be refused. The
// clusters are those the role accepts that have a config now; a config
// written later is held to the same rule at login (reviewer_required).
func (b *backend) checkLocalRoleLookups(ctx context.Context, s logical.Storage, r *roleEntry) error {
	if r.mode() != reviewLocal {
		return nil
	}
	names, err := b.clusterNames(ctx, s)
	if err != nil {
		return err
	}
	for _, name := range append([]string{defaultCluster}, names...) {
		if !r.bindsCluster(name) {
			continue
		}
		cfg, err := loadClusterConfig(ctx, s, name)
		if err != nil {
			return err
		}
		if cfg == nil {
			continue
		}
		what := roleLookups(r, cfg)
		if len(what) > 0 && kube.ReviewsItself(b.reviewerCredential(cfg)) {
			return refusal.Invalid(`review_mode: "local" with %s needs lookups in %s, which has no reviewer credential `+
				`(token_reviewer_jwt, or Vault's pod token) to make them with; local mode never uses the login JWT. `+
				`Give the cluster a reviewer credential, or drop those fields`, strings.Join(what, " and "), clusterLabel(name))
		}
	}
	return nil
}

// clusterLabel names a cluster in a message.
func clusterLabel(name string) string {
	if name == defaultCluster {
		return "config"
	}
	return "cluster/" + name
}
