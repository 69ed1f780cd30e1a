package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/reviewcache"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// Bounds of what logins remember under one config. An entry of either
// cache takes at most its value bound (as counted by cacheableAnswer and
// labelsSize) plus about 400 bytes of bookkeeping, so the review cache
// holds at most about 23 MiB and the label cache about 4.3 MiB; a real
// entry is a few hundred bytes.
const (
	maxCachedReviews = reviewcache.DefaultMaxEntries
	// maxCachedAnswerBytes: a TokenReview answer whose kept strings are
	// larger is used but not kept.
	maxCachedAnswerBytes = 2048
	maxCachedNamespaces  = 1000
	// maxCachedLabelBytes: a namespace whose labels are larger is matched
	// but not kept.
	maxCachedLabelBytes = 4096
)

// Values of the "verified_by" field of the debug line "login passed".
const (
	verifiedByReview = "token_review"
	verifiedByCache  = "review_cache"
	verifiedByLocal  = "local_keys"
)

// reviewFunc makes one TokenReview; the Kubernetes client is the real one.
type reviewFunc func(ctx context.Context, jwt string, audiences []string) (*authv1.TokenReviewStatus, error)

// answerUse says whether a lookup keeps its answer for later logins.
type answerUse uint8

const (
	// keepAnswer: a login in a caching mode; answers are kept and cache
	// lookups counted.
	keepAnswer answerUse = iota + 1
	// discardAnswer: review_mode=always, which keeps nothing, and explain,
	// which is not a login: caches are read, never filled.
	discardAnswer
)

// answerUse is what the attempt may do with the answers it gets.
func (a *attempt) answerUse() answerUse {
	if a.dryRun {
		return discardAnswer
	}
	return keepAnswer
}

// loginCaches are what logins remember under one config: successful
// TokenReviews and namespace labels (the cluster's signing keys are the
// liveCluster's clusterKeys). They live in the liveCluster, so a config write, Invalidate of the config and Clean,
// which all replace the state, drop them with it: an answer is never reused
// under another config (another API server, CA or reviewer).
type loginCaches struct {
	// review makes the TokenReviews, through reviews' coalescing.
	review reviewFunc
	// reviews holds successful TokenReview answers (pruned, see
	// cacheableAnswer) by the digest of the JWT and the audiences asked
	// about, and coalesces concurrent reviews of the same question in
	// every review mode.
	reviews *reviewcache.Cache[*authv1.TokenReviewStatus]
	// namespaces holds namespace labels for selector roles in cached and
	// hybrid modes, by the digest of the namespace name.
	namespaces *reviewcache.Cache[map[string]string]
	// metrics are the cluster's share of the mount's (they outlive the
	// caches): lookups of the review cache are counted there.
	metrics *metrics.Cluster
}

func newLoginCaches(now func() time.Time, review reviewFunc, m *metrics.Cluster) loginCaches {
	return loginCaches{
		review:     review,
		metrics:    m,
		reviews:    reviewcache.New[*authv1.TokenReviewStatus](reviewcache.Options{MaxEntries: maxCachedReviews, Now: now}),
		namespaces: reviewcache.New[map[string]string](reviewcache.Options{MaxEntries: maxCachedNamespaces, Now: now}),
	}
}

// stepReview has Kubernetes vouch for the token, as the role's review_mode
// says: always a TokenReview, a recent successful one, or (hybrid, young
// bound tokens) the cluster's signing keys. Whichever vouches, the answer
// is held against this login's claims and audiences. In hybrid mode, a
// token the cluster's keys cannot vouch for either way (see verifyLocally)
// is reviewed as every other token is: a made-up kid then costs what any
// token costs with the built-in method, one TokenReview shared by
// concurrent logins of the same token, and no key fetch beyond the key
// set's throttle.
func (b *backend) stepReview(ctx context.Context, a *attempt) error {
	audiences := satoken.ReviewAudiences(a.role.Audience, a.token.Claims.Audience)
	switch a.role.mode() {
	case reviewHybrid:
		if a.state.canVerifyLocally() && localEligible(&a.token.Claims, a.role.Audience, b.now(), a.role.maxTokenAge()) {
			err := b.verifyLocally(ctx, a)
			var unvouched *keysCannotVouch
			if !errors.As(err, &unvouched) {
				return err
			}
			a.localFallback = unvouched.Error()
		}
		return reviewCachedAnswer(ctx, a, audiences)
	case reviewCached:
		return reviewCachedAnswer(ctx, a, audiences)
	default:
		return reviewFresh(ctx, a, audiences, reviewcache.KeyFor(a.rawJWT, audiences...), discardAnswer)
	}
}

// explainReview says what vouched for the token. A TokenReview passes; an
// answer from the review cache or the cluster's keys means no TokenReview
// was made, so the step is reported as skipped, with what answered.
func explainReview(a *attempt) (outcome, detail string) {
	who := describeServiceAccount(a.reviewed.Namespace, a.reviewed.Name, a.reviewed.UID, a.reviewed.PodName)
	switch a.verifiedBy {
	case verifiedByCache:
		return outcomeSkipped, fmt.Sprintf("review_mode %s: a TokenReview of this token made within review_cache_ttl (%s) answered; it authenticated %s%s",
			a.role.mode(), a.role.cacheTTL(), who, reviewedInstead(a))
	case verifiedByLocal:
		return outcomeSkipped, fmt.Sprintf("review_mode hybrid: the token is at most local_max_token_age (%s) old and verifies with the cluster's signing key %.64q; it names %s",
			a.role.maxTokenAge(), a.token.JWS.Signatures[0].Header.KeyID, who)
	}
	detail = "Kubernetes' TokenReview" + a.state.routeNote() + " authenticated " + who
	if a.role.mode() != reviewAlways {
		detail += " (not kept: explain does not fill the review cache)"
	}
	return outcomePassed, detail + reviewedInstead(a)
}

// reviewNote says, for a review refused without a TokenReview, what
// answered instead.
func reviewNote(a *attempt) string {
	switch a.verifiedBy {
	case verifiedByCache:
		return " (answer from the review cache)" + reviewedInstead(a)
	case verifiedByLocal:
		return " (hybrid mode, checked against the cluster's signing keys)"
	}
	return a.state.routeNote() + reviewedInstead(a)
}

// reviewFresh asks for a TokenReview, sharing one with concurrent logins of
// the same token for the same audiences (key), and checks the answer. With
// keepAnswer, a successful answer is remembered for the role's
// review_cache_ttl and the cache lookup is counted.
func reviewFresh(ctx context.Context, a *attempt, audiences []string, key reviewcache.Key, use answerUse) error {
	st := a.state
	start := time.Now()
	// Set when this login's own call runs, not a concurrent login's that
	// it joined; atomic, as a caller that gives up reads it before the
	// call ends.
	var asked atomic.Bool
	status, err := st.reviews.Do(ctx, key, func(ctx context.Context) (*authv1.TokenReviewStatus, error) {
		asked.Store(true)
		return st.review(ctx, a.rawJWT, audiences)
	})
	a.reviewTook = time.Since(start)
	if use == keepAnswer {
		st.metrics.ReviewCacheLookup(cacheLookupResult(asked.Load()))
	}
	a.verifiedBy = verifiedByReview
	if err != nil {
		return credentialFault(st.kube, err, "create on tokenreviews (ClusterRole system:auth-delegator)")
	}
	if a.reviewed, err = satoken.CheckReview(status, a.claimed, audiences); err != nil {
		return err
	}
	if use == keepAnswer {
		if kept, ok := cacheableAnswer(status); ok {
			st.reviews.Put(key, kept, a.role.cacheTTL(), expiry(&a.token.Claims))
		}
	}
	return nil
}

// reviewCachedAnswer reuses a successful TokenReview of the same JWT for the
// same audiences made within the role's review_cache_ttl, else reviews and
// keeps the answer. A kept answer is checked against this login's claims
// exactly as a fresh one.
func reviewCachedAnswer(ctx context.Context, a *attempt, audiences []string) error {
	key := reviewcache.KeyFor(a.rawJWT, audiences...)
	if status, ok := a.state.reviews.Get(key, a.role.cacheTTL()); ok {
		if !a.dryRun {
			a.state.metrics.ReviewCacheLookup(metrics.CacheHit)
		}
		a.verifiedBy = verifiedByCache
		var err error
		a.reviewed, err = satoken.CheckReview(status, a.claimed, audiences)
		return err
	}
	return reviewFresh(ctx, a, audiences, key, a.answerUse())
}

// cacheLookupResult is how a login that found no kept answer got one: by
// its own TokenReview (a miss), or by sharing a concurrent login's.
func cacheLookupResult(askedItself bool) string {
	if askedItself {
		return metrics.CacheMiss
	}
	return metrics.CacheShared
}

// expiry is the token's exp, or the zero time for a token without one.
func expiry(c *satoken.Claims) time.Time {
	if c.Expiry == nil {
		return time.Time{}
	}
	return c.Expiry.Time()
}

// cacheableAnswer is what a successful answer is kept as: only what
// satoken.CheckReview reads (no groups, only the pod's keys of the extra), and
// nothing when that is over maxCachedAnswerBytes, so the cache's memory is
// bounded whatever the API server answers. Failures are never kept.
func cacheableAnswer(st *authv1.TokenReviewStatus) (*authv1.TokenReviewStatus, bool) {
	if !st.Authenticated || st.Error != "" {
		return nil, false
	}
	kept := &authv1.TokenReviewStatus{
		Authenticated: true,
		User:          authv1.UserInfo{Username: st.User.Username, UID: st.User.UID},
		Audiences:     st.Audiences,
	}
	size := len(st.User.Username) + len(st.User.UID)
	for _, a := range st.Audiences {
		size += len(a) + stringOverhead
	}
	for _, k := range []string{satoken.ExtraPodName, satoken.ExtraPodUID, satoken.ExtraNodeName} {
		if v := st.User.Extra[k]; len(v) > 0 {
			if kept.User.Extra == nil {
				kept.User.Extra = map[string]authv1.ExtraValue{}
			}
			kept.User.Extra[k] = authv1.ExtraValue{v[0]}
			size += len(k) + len(v[0]) + 4*stringOverhead
		}
	}
	if size > maxCachedAnswerBytes {
		return nil, false
	}
	return kept, true
}

// stringOverhead approximates what a string in a slice or map costs beyond
// its bytes, for the size bounds.
const stringOverhead = 32

// labelsSize approximates the memory a namespace's labels take.
func labelsSize(labels map[string]string) int {
	size := 0
	for k, v := range labels {
		size += len(k) + len(v) + 2*stringOverhead
	}
	return size
}

// namespaceLabelsCached reads a namespace's labels for a selector role in
// cached or hybrid mode: labels read within maxAge (the role's
// review_cache_ttl) are reused, and concurrent logins share one read.
// Only a successful read is kept (a namespace that does not exist yet is
// looked up again). When each login JWT reviews itself it is also the
// credential of the read, so nothing read with one workload's token is
// used for another's login: every login reads. Labels read are kept only
// with keepAnswer (explain reads the cache but does not fill it).
func (s *liveCluster) namespaceLabelsCached(ctx context.Context, loginJWT, namespace string, maxAge time.Duration, use answerUse) (map[string]string, error) {
	if !s.hasReviewer() {
		return s.kube.NamespaceLabels(ctx, loginJWT, namespace)
	}
	key := reviewcache.KeyFor(namespace)
	if labels, ok := s.namespaces.Get(key, maxAge); ok {
		return labels, nil
	}
	labels, err := s.namespaces.Do(ctx, key, func(ctx context.Context) (map[string]string, error) {
		return s.kube.NamespaceLabels(ctx, "", namespace)
	})
	if use == keepAnswer && err == nil && labelsSize(labels) <= maxCachedLabelBytes {
		s.namespaces.Put(key, labels, maxAge, time.Time{})
	}
	return labels, err
}
