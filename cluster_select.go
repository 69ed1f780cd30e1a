package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/clusterkeys"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// How a login's cluster is chosen, and why so.
//
// A token is sent (to a TokenReview, or verified with a cluster's keys)
// only to a cluster it was matched to, and is matched to a cluster in one
// of two ways:
//   - by issuer: the token's iss is the cluster's issuer and known to be no
//     other cluster's, which needs every other cluster's issuer known (its
//     issuer field, or the one its API server announced, once read);
//   - by signing key: one of the cluster's keys (pem_keys, else the keys its
//     API server publishes) verifies the token, and no other cluster's does.
//
// So a cluster whose issuer cannot be read (down, its stored config
// unusable, nothing to read it with) never routes a token elsewhere: while
// its issuer is unknown, the other clusters' tokens are matched by key. The
// legacy issuer, kubernetes/serviceaccount, which every cluster's
// Secret-based tokens carry, is never a match: those tokens are always
// matched by key. An issuer match alone would let whoever runs one cluster
// (and so chooses the issuer its API server announces) draw another
// cluster's tokens to itself whenever that cluster's issuer is not known.
//
// What is already known decides first, with no network wait: configured
// issuers, issuers already read, pem_keys, keys already held. Only then
// are the clusters the role accepts (bound_clusters) asked, all at once,
// each for at most clusterWait; the first signing key that verifies ends
// the wait. A cluster the role does not accept is never waited for: its
// tokens are refused as cluster_not_bound when what is known shows them to
// be its, else as cluster_unknown. Issuers not yet known are read in the
// background meanwhile (clusterkeys' KnownIssuer), and a cluster that is
// slow or failing is not waited for again until its backoff has passed
// (clusterkeys' prompt accessors), so a cluster that is down costs one
// short wait per backoff to the logins of roles that accept it, and
// nothing to the others.
//
// The states of all the mount's clusters are still acquired for each login
// (mountClusters): a state already built costs a read lock and a counter,
// and a cluster the role does not accept may still be the token's, which
// the refusal should say.

// defaultClusterWait bounds each login's wait for the clusters it asks
// (their issuer, their signing keys): well under the request timeout, so
// that a cluster that accepts connections and never answers fails its own
// logins promptly instead of at the request timeout.
const defaultClusterWait = 2 * time.Second

// Outcomes of a cluster in the choice of a login's cluster (explain).
const (
	clusterChosen  = "chosen"
	clusterDropped = "dropped"
	// clusterKept: it matched, as did another, so none was chosen.
	clusterKept = "kept"
)

// clusterFinding is what the choice of the login's cluster made of one of
// the mount's clusters, and why: the facts, from which detail writes the
// sentence only when explain or a refusal asks, so that a login pays a
// string comparison per cluster and no formatting.
type clusterFinding struct {
	name    string
	outcome string
	why     findingReason
	issuer  string // the cluster's issuer, when it was read
	err     error  // what could not be read

	// What the choice learned of the cluster on the way.
	match    issuerMatch
	key      keyMatch
	accepted bool // the role's bound_clusters accept it
	errWhy   findingReason
}

// issuerMatch is how the token's issuer compares with a cluster's.
type issuerMatch uint8

const (
	issuerUnknown issuerMatch = iota // the cluster's issuer is not known: it may be the token's
	issuerSame                       // the token's issuer is the cluster's (for the legacy issuer: may be)
	issuerDiffers
)

// keyMatch is what the cluster's signing keys say of the token.
type keyMatch uint8

const (
	keyUntried  keyMatch = iota
	keyVerifies          // one of its keys verifies the token
	keyFails             // none of its keys (pem_keys, or those published) does
)

// findingReason is why a cluster was chosen, kept or dropped.
type findingReason uint8

const (
	whyUnusable          findingReason = iota + 1 // its stored config cannot be used (err)
	whyIssuerUnreadable                           // err
	whyIssuerDiffers                              // issuer
	whyKeysUnreadable                             // err
	whyNoKeyVerifies                              // shares the issuer; none of its keys, refreshed, verifies
	whyNoHeldKeyVerifies                          // shares the issuer; none of the keys it holds verifies (another's did)
	whyByIssuer                                   // chosen: the only cluster with the token's issuer
	whyByKey                                      // chosen: the only one of those sharing the issuer whose key verifies
	whyBothMatch                                  // kept: issuer and key match, as another's do
	whyNotBound                                   // the role does not accept it, and nothing known ties the token to it
	whyNotAwaited                                 // its issuer is being read; another cluster matched without waiting
	whyCannotTell                                 // its issuer is the token's, as others' may be, and its keys cannot be read (err)
)

// explainedCluster is a finding as explain answers it.
type explainedCluster struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

// detail is the finding in a sentence, for a token with issuer iss and
// key id kid.
func (v clusterFinding) detail(iss, kid string) string {
	switch v.why {
	case whyUnusable:
		return "its stored config cannot be used: " + v.err.Error()
	case whyIssuerUnreadable:
		return "its issuer could not be read: " + v.err.Error()
	case whyIssuerDiffers:
		return fmt.Sprintf("its issuer is %q, not the token's %q", v.issuer, iss)
	case whyKeysUnreadable:
		return "its signing keys could not be read: " + v.err.Error()
	case whyNoKeyVerifies:
		return fmt.Sprintf("it may have issuer %q, but none of its signing keys verifies the token (kid %.64q)", iss, kid)
	case whyNoHeldKeyVerifies:
		return fmt.Sprintf("it may have issuer %q, but none of the signing keys it holds verifies the token (kid %.64q)", iss, kid)
	case whyByIssuer:
		return fmt.Sprintf("its issuer %q is the token's, and no other cluster's", iss)
	case whyByKey:
		return fmt.Sprintf("the token's signature (kid %.64q) verifies with its signing key, and no other cluster's", kid)
	case whyBothMatch:
		return "its signing key verifies the token, as another cluster's does"
	case whyNotBound:
		return "the role's bound_clusters do not accept it, so it is not asked for its issuer or keys"
	case whyNotAwaited:
		return "its issuer is not known yet; the token matched another cluster's signing key without waiting for it"
	case whyCannotTell:
		return v.err.Error()
	}
	return ""
}

// explainClusters are the attempt's cluster findings as explain answers
// them.
func explainClusters(a *attempt) []explainedCluster {
	if a.clusters == nil || a.clusterFindings == nil {
		return nil // config alone, or the login ended before the cluster step
	}
	iss, kid := a.token.Claims.Issuer, a.token.JWS.Signatures[0].Header.KeyID
	out := make([]explainedCluster, 0, len(a.clusterFindings))
	for _, v := range a.clusterFindings {
		out = append(out, explainedCluster{Name: v.name, Outcome: v.outcome, Detail: v.detail(iss, kid)})
	}
	return out
}

// errNoDiscoveryCredential: a cluster without issuer or pem_keys whose
// published issuer and keys cannot be read, for want of a credential.
var errNoDiscoveryCredential = errors.New("it has no token_reviewer_jwt (nor Vault's own pod token) to read its API server's " +
	"issuer and signing keys with; set issuer (and pem_keys if clusters share an issuer) on it")

// stepCluster decides which of the mount's clusters the token comes from,
// from the token alone, and holds that against the role's bound_clusters.
// A mount with only config has nothing to decide.
func stepCluster(ctx context.Context, a *attempt) error {
	if a.clusters != nil {
		chosen, findings, err := chooseCluster(ctx, a.clusters, &a.role.clusterBindings, a.token, a.clusters[0].wait)
		a.clusterFindings = findings
		if err != nil {
			return err
		}
		a.cluster, a.state = chosen.name, chosen.state
	}
	if !a.role.bindsCluster(a.cluster) {
		return refusal.New(refusal.ReasonClusterNotBound, "the token is from cluster %q, which is not in the role's bound_clusters %q",
			a.cluster, a.role.boundClusters())
	}
	return nil
}

// explainCluster says why the cluster step passed, or that it did not apply.
func explainCluster(a *attempt) (outcome, detail string) {
	if a.clusters == nil {
		return outcomeSkipped, "the mount has one cluster, config's; the role's bound_clusters include it"
	}
	return outcomePassed, fmt.Sprintf("the token is from cluster %q, which the role's bound_clusters %q include",
		a.cluster, a.role.boundClusters())
}

// chooser is one login's choice of its cluster among refs.
type chooser struct {
	refs     []clusterRef
	findings []clusterFinding
	jws      *jose.JSONWebSignature
	iss, kid string
	// legacy: the token has the issuer every cluster's Secret-based
	// tokens carry, so only a signing key can match it.
	legacy bool
}

// chooseCluster finds the cluster the token was issued by, among refs (all
// the mount's clusters), as the comment at the top of this file says. It
// returns a cluster the role (bound) does not accept when what is known
// shows the token to be that cluster's; the caller refuses it. When no
// cluster matches and one the role accepts could not be asked, that is a
// fault, not the token's.
func chooseCluster(ctx context.Context, refs []clusterRef, bound *clusterBindings, tok *satoken.Token, wait time.Duration) (clusterRef, []clusterFinding, error) {
	c := &chooser{
		refs:     refs,
		findings: make([]clusterFinding, len(refs)),
		jws:      tok.JWS,
		iss:      tok.Claims.Issuer,
		kid:      tok.JWS.Signatures[0].Header.KeyID,
		legacy:   tok.Claims.Issuer == defaultIssuer,
	}
	c.classify(bound)
	if i, ok := c.byIssuer(); ok {
		return c.chose(i, whyByIssuer)
	}
	if c.tryHeldKeys() {
		return c.byKey()
	}
	c.ask(ctx, wait)
	if i, ok := c.byIssuer(); ok {
		return c.chose(i, whyByIssuer)
	}
	if c.anyKeyVerifies() {
		return c.byKey()
	}
	return c.unmatched()
}

// classify records what is known of each cluster without asking it: its
// issuer (configured, or read before) against the token's.
func (c *chooser) classify(bound *clusterBindings) {
	for i, r := range c.refs {
		v := &c.findings[i]
		v.name, v.accepted = r.name, bound.bindsCluster(r.name)
		switch {
		case r.err != nil:
			v.err, v.errWhy = r.err, whyUnusable
		case c.legacy:
			v.match = issuerSame
		default:
			if iss, ok := knownIssuer(r.state); ok {
				v.issuer, v.match = iss, issuerDiffers
				if iss == c.iss {
					v.match = issuerSame
				}
			} else if !r.state.hasReviewer() {
				v.err, v.errWhy = errNoDiscoveryCredential, whyIssuerUnreadable
			}
		}
	}
}

// knownIssuer is the cluster's issuer field, else the issuer its API server
// announced if already read (a read is started in the background if not).
func knownIssuer(st *liveCluster) (string, bool) {
	if st.config.Issuer != "" {
		return st.config.Issuer, true
	}
	if !st.hasReviewer() {
		return "", false
	}
	return st.clusterKeys.get().KnownIssuer()
}

// byIssuer is the cluster with the token's issuer when that issuer is known
// to be no other cluster's.
func (c *chooser) byIssuer() (int, bool) {
	if c.legacy {
		return 0, false
	}
	found := -1
	for i := range c.findings {
		switch c.findings[i].match {
		case issuerUnknown:
			return 0, false
		case issuerSame:
			if found >= 0 {
				return 0, false
			}
			found = i
		}
	}
	return found, found >= 0
}

// candidate says whether the token may be cluster i's as far as its issuer
// goes, and the cluster can be asked.
func (c *chooser) candidate(i int) bool {
	return c.refs[i].err == nil && c.findings[i].match != issuerDiffers
}

// tryHeldKeys tries the signing keys the candidates hold (pem_keys, keys
// already fetched), without fetching any; it says whether one verifies.
func (c *chooser) tryHeldKeys() bool {
	found := false
	for i := range c.refs {
		if !c.candidate(i) {
			continue
		}
		st, v := c.refs[i].state, &c.findings[i]
		if len(st.keys) > 0 {
			v.key = keyFails
			if satoken.VerifySignature(c.jws, st.keys) == nil {
				v.key = keyVerifies
			}
		} else if st.hasReviewer() {
			if key, ok := st.clusterKeys.get().Cached(c.kid); ok {
				v.key = keyFails
				if _, err := c.jws.Verify(key); err == nil {
					v.key = keyVerifies
				}
			}
		}
		found = found || v.key == keyVerifies
	}
	return found
}

// needsAsking says whether cluster i, which the role accepts, is to be
// asked for its issuer or signing keys.
func (c *chooser) needsAsking(i int, blind bool) bool {
	v := &c.findings[i]
	if !c.candidate(i) || v.err != nil || !c.refs[i].state.hasReviewer() {
		return false
	}
	if !v.accepted {
		// Never, unless a cluster the role accepts has the token's issuer
		// and no keys to be told apart by: then the issuers of the others
		// decide, and are read (their backoff spares a failing one).
		return blind && v.match == issuerUnknown
	}
	return v.match == issuerUnknown || (v.key == keyUntried && len(c.refs[i].state.keys) == 0)
}

// blind says whether a cluster the role accepts has the token's issuer and
// no signing keys to be matched by (no pem_keys, no reviewer credential).
func (c *chooser) blind() bool {
	for i := range c.findings {
		v := &c.findings[i]
		if v.accepted && v.match == issuerSame && !c.legacy && len(c.refs[i].state.keys) == 0 && !c.refs[i].state.hasReviewer() {
			return true
		}
	}
	return false
}

// ask asks the clusters the role accepts that may have issued the token,
// all at once, for their issuer and signing keys, for at most wait. Those
// whose issuer is known to be the token's are waited for (to the wait's
// end), so that two of them whose key verifies are found out; those whose
// issuer is not known yet are waited for only until a key verifies: their
// reads go on in the background.
func (c *chooser) ask(ctx context.Context, wait time.Duration) {
	var buf [16]int
	todo := buf[:0]
	blind := c.blind()
	for i := range c.refs {
		if c.needsAsking(i, blind) {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	// Only what the goroutines need is shared with them, so that the
	// choice itself stays on the stack when nothing is asked.
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pending, matched := context.WithCancel(wctx)
	defer matched()
	refs, findings, tok := c.refs, c.findings, askedToken{jws: c.jws, iss: c.iss, kid: c.kid}
	var wg sync.WaitGroup
	for _, i := range todo {
		actx := wctx
		if findings[i].match == issuerUnknown && findings[i].accepted {
			actx = pending
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if askOne(actx, refs[i].state, &findings[i], tok, wait) {
				matched()
			}
		}()
	}
	wg.Wait()
}

// askedToken is what asking a cluster needs of the token: its signature,
// its issuer and the kid of its key.
type askedToken struct {
	jws      *jose.JSONWebSignature
	iss, kid string
}

// askOne reads a cluster's issuer if unknown, then, if it may be the
// token's, its signing keys, recording what it learns in the cluster's
// finding v (and nothing else); it says whether a key verifies the token.
func askOne(ctx context.Context, st *liveCluster, v *clusterFinding, tok askedToken, wait time.Duration) bool {
	set := st.clusterKeys.get()
	if v.match == issuerUnknown {
		iss, err := set.PromptIssuer(ctx)
		if err != nil {
			v.err, v.errWhy = choiceFault(ctx, st, "read of its issuer", wait, err), whyIssuerUnreadable
			return false
		}
		v.issuer, v.match = iss, issuerDiffers
		if iss != tok.iss {
			return false
		}
		v.match = issuerSame
	}
	if !v.accepted || v.key != keyUntried || len(st.keys) > 0 {
		return false
	}
	key, err := set.PromptKey(ctx, tok.kid)
	switch {
	case isUnknownKey(err):
		v.key = keyFails
		return false
	case err != nil:
		v.err, v.errWhy = choiceFault(ctx, st, "read of its signing keys", wait, err), whyKeysUnreadable
		return false
	}
	if _, err := tok.jws.Verify(key); err != nil {
		v.key = keyFails
		return false
	}
	v.key = keyVerifies
	return true
}

// choiceFault is why a cluster could not be asked: nil when the wait was
// cut short because another cluster matched (not this cluster's failure);
// a timeout when the cluster did not answer within the wait, or was not
// waited for because it has been failing or slow.
func choiceFault(ctx context.Context, st *liveCluster, what string, wait time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	var api *kube.APIError
	if !errors.As(err, &api) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clusterkeys.ErrNotFetched)) {
		return &kube.APIError{Op: what + " for the choice of a login's cluster", Host: st.config.Host, Timeout: wait, Err: err}
	}
	return keyFault(st.kube, err)
}

func (c *chooser) anyKeyVerifies() bool {
	for i := range c.findings {
		if c.findings[i].key == keyVerifies {
			return true
		}
	}
	return false
}

// byKey decides among the clusters whose signing key verifies the token:
// the one, or none when several do (the same cluster written twice).
func (c *chooser) byKey() (clusterRef, []clusterFinding, error) {
	var names []string
	found := -1
	for i := range c.findings {
		if c.findings[i].key == keyVerifies {
			found = i
			names = append(names, c.refs[i].name)
		}
	}
	if len(names) == 1 {
		return c.chose(found, whyByKey)
	}
	for i := range c.findings {
		if c.findings[i].key == keyVerifies {
			c.findings[i].outcome, c.findings[i].why = clusterKept, whyBothMatch
		}
	}
	c.settle()
	return clusterRef{}, c.findings, refusal.New(refusal.ReasonClusterAmbiguous, "clusters %q all have the token's issuer %q and signing key", names, c.iss)
}

// chose ends the choice with cluster i.
func (c *chooser) chose(i int, why findingReason) (clusterRef, []clusterFinding, error) {
	c.findings[i].outcome, c.findings[i].why = clusterChosen, why
	c.settle()
	return c.refs[i], c.findings, nil
}

// unmatched ends a choice that found no cluster: a fault when a cluster the
// role accepts, and that may be the token's, could not be asked or told
// apart; else the token is none of the clusters' the role accepts.
func (c *chooser) unmatched() (clusterRef, []clusterFinding, error) {
	var faults []error
	for i := range c.findings {
		v := &c.findings[i]
		if !v.accepted || v.match == issuerDiffers || v.key == keyFails {
			continue
		}
		if v.err == nil && v.match == issuerSame {
			// Its issuer is the token's, but others' may be too, and its
			// keys cannot be read to tell them apart.
			v.err, v.errWhy = c.cannotTell(i), whyCannotTell
		}
		if v.err != nil {
			faults = append(faults, fmt.Errorf("cluster %q: %w", v.name, v.err))
		}
	}
	c.settle()
	if len(faults) > 0 {
		return clusterRef{}, c.findings, errors.Join(faults...)
	}
	return clusterRef{}, c.findings, refusal.New(refusal.ReasonClusterUnknown, "no cluster the role accepts has the token's issuer %q and signing key", c.iss)
}

// cannotTell is why a cluster with the token's issuer was not matched.
func (c *chooser) cannotTell(i int) error {
	var unknown, same []string
	for j, v := range c.findings {
		switch {
		case j == i:
		case v.match == issuerUnknown:
			unknown = append(unknown, v.name)
		case v.match == issuerSame:
			same = append(same, v.name)
		}
	}
	name := clusterStorageKey(c.findings[i].name)
	if c.legacy {
		return fmt.Errorf("legacy tokens (issuer %q) are matched by signing key, and %s has no pem_keys nor reviewer credential "+
			"to read its published keys with; set pem_keys on it", defaultIssuer, name)
	}
	return fmt.Errorf("its issuer is the token's, but may also be that of clusters %q (not known yet) or is that of %q, "+
		"and it has no pem_keys nor reviewer credential to tell its tokens apart by signing key; set issuer on those "+
		"clusters, or pem_keys on %s", unknown, same, name)
}

// settle gives every cluster not chosen or kept the reason it was dropped.
func (c *chooser) settle() {
	decided := false
	for i := range c.findings {
		decided = decided || c.findings[i].outcome != ""
	}
	for i := range c.findings {
		v := &c.findings[i]
		if v.outcome != "" {
			continue
		}
		v.outcome = clusterDropped
		switch {
		case v.err != nil:
			v.why = v.errWhy
		case v.match == issuerDiffers:
			v.why = whyIssuerDiffers
		case v.key == keyFails:
			v.why = whyNoKeyVerifies
		case !v.accepted:
			v.why = whyNotBound
		case v.match == issuerUnknown && decided:
			v.why = whyNotAwaited
		default:
			v.why = whyNoHeldKeyVerifies
		}
	}
}

// clusterIssuer is the issuer of the cluster's tokens: its issuer field
// when set (enforced or not), else what its API server announces, waited
// for at most wait (config/check: a cluster that does not answer must not
// hold the check of another).
func clusterIssuer(ctx context.Context, st *liveCluster, wait time.Duration) (string, error) {
	if st.config.Issuer != "" {
		return st.config.Issuer, nil
	}
	if !st.hasReviewer() {
		return "", errNoDiscoveryCredential
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	iss, err := st.clusterKeys.get().PromptIssuer(wctx)
	if err != nil {
		if fault := choiceFault(wctx, st, "read of its issuer", wait, err); fault != nil {
			return "", fault
		}
		return "", err
	}
	return iss, nil
}
