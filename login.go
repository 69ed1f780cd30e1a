package kubeauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/cidrutil"
	"github.com/hashicorp/vault/sdk/logical"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// attempt is one login as it moves through the pipeline: the inputs, then
// what each step establishes for the steps after it.
type attempt struct {
	roleName string
	role     *roleEntry
	rawJWT   string
	conn     *logical.Connection
	// state is the token's cluster's, once known (see cluster).
	state *liveCluster
	// cluster is the name of the cluster the token comes from: set by
	// newAttempt on a mount with only config, else by the cluster step,
	// from one of clusters (all the mount's, which the attempt releases).
	cluster         string
	clusters        []clusterRef
	clusterFindings []clusterFinding // what the cluster step made of each, for explain
	// namedClusters are the names of the mount's named clusters, nil on a
	// mount with config alone: the aliases to keep apart.
	namedClusters []string

	token   *satoken.Token   // set by parse
	claimed satoken.Identity // set by identity: what the claims say
	// selectorPending is set by bindings when the namespace globs do not bind
	// the namespace but the role's selector may: the namespace_selector step
	// decides, once the TokenReview has vouched for the token.
	selectorPending bool
	reviewed        satoken.Identity // set by review: what Kubernetes vouches for
	reviewTook      time.Duration    // how long the TokenReview took, for the log
	verifiedBy      string           // what vouched for the token, for the log (verifiedBy*)
	// localFallback is set in hybrid mode when the cluster's keys could not
	// vouch for a young token, so it was reviewed: why (explain).
	localFallback string
	aliasMetadata map[string]string
	// pod is the live pod the reviewed token is bound to, once a step read
	// it (livePod); workloadMetadata what the role copies of it.
	pod              *corev1.Pod
	workloadMetadata map[string]string
	// dryRun is set by explain: the caches may be read, never filled, so
	// that an operator's question does not warm what logins rely on.
	dryRun bool
}

// loginStep is one check of a login. Steps run in order and the first
// error ends the login. explain says, from the attempt as run left it, why
// the step passed or that it did not apply (explain's answer); each lives
// beside its run. note, when set, adds to a refusal's detail in explain's
// answer what the refusal alone does not say (whose address, what
// answered instead of a TokenReview).
type loginStep struct {
	name    string
	run     func(context.Context, *attempt) error
	explain func(*attempt) (outcome, detail string)
	note    func(*attempt) string
}

// refusalNote is what explain adds to the step's refusal, if anything.
func (s loginStep) refusalNote(a *attempt) string {
	if s.note == nil {
		return ""
	}
	return s.note(a)
}

// localSteps need nothing but the connection, the token and the role: no
// call to Kubernetes (but for a named cluster's published issuer or keys,
// fetched once and kept, when the cluster step needs them). They run
// cheapest first, so a forged or misdirected token is refused before any
// API round trip; the signature check (only with pem_keys) comes last among
// them as the one that costs real CPU. They are all that alias lookahead
// runs. A namespace only the selector could bind is left pending here,
// since deciding it needs a lookup.
func (b *backend) localSteps() []loginStep { return b.steps.local }

// loginSteps are the full login: the local steps, then the TokenReview, and
// only then the lookups that only a verified token deserves (the
// namespace's labels for a selector, the service account's annotations).
func (b *backend) loginSteps() []loginStep { return b.steps.all }

// errNoSteps is the fault of a pipeline without steps.
var errNoSteps = errors.New("the login pipeline has no steps")

// stepTables are a backend's steps, built once: a login, alias lookahead
// and explain only read them, so no login allocates its pipeline.
type stepTables struct {
	local, all []loginStep
}

func newStepTables(b *backend) stepTables {
	local := []loginStep{
		{"source_address", stepSourceAddress, explainSourceAddress, addressNote},
		{"parse", stepParse, explainParse, nil},
		{"times", b.stepTimes, explainTimes, nil},
		{"cluster", stepCluster, explainCluster, nil},
		{"issuer", stepIssuer, explainIssuer, nil},
		{"audience", stepAudience, explainAudience, nil},
		{"identity", stepIdentity, explainIdentity, nil},
		{"bindings", stepBindings, explainBindings, nil},
		{"signature", stepSignature, explainSignature, nil},
	}
	all := append(slices.Clip(local),
		// After the cheap local checks, before the TokenReview: a workload
		// over its limit costs the cluster nothing.
		loginStep{"login_rate_limit", b.stepLoginRateLimit, b.explainLoginRateLimit, nil},
		loginStep{"review", b.stepReview, explainReview, reviewNote},
		loginStep{"namespace_selector", stepNamespaceSelector, explainNamespaceSelector, nil},
		loginStep{"pod", b.stepPod, explainPod, nil},
		loginStep{"alias_metadata", stepAliasMetadata, explainAliasMetadata, nil},
		loginStep{"workload_metadata", b.stepWorkloadMetadata, explainWorkloadMetadata, nil},
	)
	return stepTables{local: slices.Clip(local), all: slices.Clip(all)}
}

func runSteps(ctx context.Context, steps []loginStep, a *attempt) error {
	return observeSteps(ctx, steps, a, nil)
}

// stepObserver is told each step and its result as it ends (explain
// records them); it is not called for steps after the first error.
type stepObserver func(step loginStep, err error)

// observeSteps runs the steps as runSteps does, telling observe, when not
// nil, how each ended. A login passes nil and pays nothing for it.
func observeSteps(ctx context.Context, steps []loginStep, a *attempt, observe stepObserver) error {
	if len(steps) == 0 {
		// A backend not built by newBackend: failing closed beats a login
		// that checked nothing.
		return errNoSteps
	}
	for _, s := range steps {
		err := s.run(ctx, a)
		if observe != nil {
			observe(s, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func stepSourceAddress(_ context.Context, a *attempt) error {
	cidrs := a.role.TokenBoundCIDRs
	if len(cidrs) == 0 {
		return nil
	}
	if a.conn == nil || a.conn.RemoteAddr == "" {
		return refusal.New(refusal.ReasonCIDR, "token_bound_cidrs is set but the client address is unknown")
	}
	if !cidrutil.RemoteAddrIsOk(a.conn.RemoteAddr, cidrs) {
		return refusal.New(refusal.ReasonCIDR, "client address %s is not in token_bound_cidrs", a.conn.RemoteAddr)
	}
	return nil
}

// explainSourceAddress says why the source_address step passed, or that it did not apply.
func explainSourceAddress(a *attempt) (outcome, detail string) {
	r := a.role
	if len(r.TokenBoundCIDRs) == 0 {
		return outcomeSkipped, "the role has no token_bound_cidrs"
	}
	return outcomePassed, fmt.Sprintf("client address %s is in token_bound_cidrs %q", remoteAddr(a.conn), boundCIDRStrings(r)) + explainAddressNote
}

// addressNote: the address explain judged is the explain request's.
func addressNote(*attempt) string { return explainAddressNote }

func stepParse(_ context.Context, a *attempt) error {
	tok, err := satoken.Parse(a.rawJWT)
	a.token = tok
	return err
}

// explainParse says why the parse step passed, or that it did not apply.
func explainParse(a *attempt) (outcome, detail string) {
	h := a.token.JWS.Signatures[0].Header
	return outcomePassed, fmt.Sprintf("a JWT signed with %s (kid %.64q) whose claims read unambiguously", h.Algorithm, h.KeyID)
}

func (b *backend) stepTimes(_ context.Context, a *attempt) error {
	return satoken.CheckTimes(&a.token.Claims.Claims, b.now())
}

// explainTimes says why the times step passed, or that it did not apply.
func explainTimes(a *attempt) (outcome, detail string) {
	c := a.token.Claims
	if c.Expiry == nil {
		return outcomePassed, "the token has no exp (a legacy Secret-based token: the TokenReview decides whether it is still valid)"
	}
	return outcomePassed, "valid until " + c.Expiry.Time().UTC().Format("2006-01-02T15:04:05Z")
}

func stepIssuer(_ context.Context, a *attempt) error {
	return satoken.CheckIssuer(a.token.Claims.Issuer, a.state.config.expectedIssuer())
}

// explainIssuer says why the issuer step passed, or that it did not apply.
func explainIssuer(a *attempt) (outcome, detail string) {
	st := a.state
	want := st.config.expectedIssuer()
	if want == "" {
		return outcomeSkipped, fmt.Sprintf("disable_iss_validation is set: the issuer %q is not checked", a.token.Claims.Issuer)
	}
	return outcomePassed, fmt.Sprintf("issuer %q is the expected issuer", a.token.Claims.Issuer)
}

func stepAudience(_ context.Context, a *attempt) error {
	return satoken.CheckAudience(a.token.Claims.Audience, a.role.audiences())
}

// explainAudience says why the audience step passed, or that it did not apply.
func explainAudience(a *attempt) (outcome, detail string) {
	r := a.role
	switch {
	case len(r.Audiences) > 0:
		return outcomePassed, fmt.Sprintf("token audiences %q include one of the role's audiences %q", []string(a.token.Claims.Audience), r.Audiences)
	case r.Audience == "":
		return outcomeSkipped, "the role has no audience"
	}
	return outcomePassed, fmt.Sprintf("token audiences %q include the role's audience %q", []string(a.token.Claims.Audience), r.Audience)
}

// stepIdentity reads the claimed service account and refuses names
// Kubernetes could not have given before anything uses them, and, on a
// mount with named clusters, identities whose alias another cluster's
// could also be.
func stepIdentity(_ context.Context, a *attempt) error {
	sa, err := satoken.IdentityFromClaims(&a.token.Claims)
	a.claimed = sa
	if err != nil {
		return err
	}
	return checkAliasIdentity(a.role.AliasNameSource, sa, a.cluster, a.namedClusters)
}

// explainIdentity says why the identity step passed, or that it did not apply.
func explainIdentity(a *attempt) (outcome, detail string) {
	return outcomePassed, "the claims name " + describeServiceAccount(a.claimed.Namespace, a.claimed.Name, a.claimed.UID, a.claimed.PodName)
}

func stepBindings(_ context.Context, a *attempt) error {
	if err := checkServiceAccountName(a.role, a.claimed.Name); err != nil {
		return err
	}
	pending, err := bindNamespace(a.role, a.claimed.Namespace)
	a.selectorPending = pending
	return err
}

// explainBindings says why the bindings step passed, or that it did not apply.
func explainBindings(a *attempt) (outcome, detail string) {
	r := a.role
	nameBound := fmt.Sprintf("service account name %q is in bound_service_account_names %q", a.claimed.Name, r.ServiceAccountNames)
	if a.selectorPending {
		return outcomePassed, fmt.Sprintf("%s; namespace %q is not in bound_service_account_namespaces %q, so the namespace selector decides",
			nameBound, a.claimed.Namespace, r.ServiceAccountNamespaces)
	}
	return outcomePassed, fmt.Sprintf("%s; namespace %q is in bound_service_account_namespaces %q", nameBound, a.claimed.Namespace, r.ServiceAccountNamespaces)
}

func stepSignature(_ context.Context, a *attempt) error {
	return satoken.VerifySignature(a.token.JWS, a.state.keys)
}

// explainSignature says why the signature step passed, or that it did not apply.
func explainSignature(a *attempt) (outcome, detail string) {
	st := a.state
	if len(st.keys) == 0 {
		if a.role.mode() == reviewLocal {
			return outcomeSkipped, "the config has no pem_keys: the review step verifies the signature with the cluster's keys (review_mode local)"
		}
		return outcomeSkipped, "the config has no pem_keys: Kubernetes vouches for the signature"
	}
	return outcomePassed, fmt.Sprintf("the signature verifies with one of the %d pem_keys", len(st.keys))
}

// bindNamespace applies the namespace globs. A namespace they do not bind
// is refused, unless the role has a selector that may still bind it: then
// pending says the namespace's labels must be looked up, which is left to
// the caller because it costs an API round trip.
func bindNamespace(r *roleEntry, namespace string) (pending bool, err error) {
	if namespaceBoundByGlob(r, namespace) {
		return false, nil
	}
	if r.ServiceAccountNamespaceSelector == "" {
		return false, refusal.New(refusal.ReasonNamespace, "namespace %q is not in bound_service_account_namespaces %q", namespace, r.ServiceAccountNamespaces)
	}
	return true, nil
}

// stepNamespaceSelector decides a namespace only the selector can bind. In
// cached and hybrid modes the labels may be up to review_cache_ttl old (see
// namespaceLabelsCached); in always mode they are read for every login.
func stepNamespaceSelector(ctx context.Context, a *attempt) error {
	if !a.selectorPending {
		return nil
	}
	st := a.state
	ns := a.reviewed.Namespace
	if a.role.mode() == reviewAlways {
		return checkNamespaceSelector(ctx, a.role, st.kube, ns, func(ctx context.Context) (map[string]string, error) {
			return st.kube.NamespaceLabels(ctx, a.rawJWT, ns)
		})
	}
	return checkNamespaceSelector(ctx, a.role, st.kube, ns, func(ctx context.Context) (map[string]string, error) {
		return st.namespaceLabelsCached(ctx, a.rawJWT, ns, a.role.cacheTTL(), a.answerUse())
	})
}

// explainNamespaceSelector says why the namespace_selector step passed, or that it did not apply.
func explainNamespaceSelector(a *attempt) (outcome, detail string) {
	r := a.role
	switch {
	case r.ServiceAccountNamespaceSelector == "":
		return outcomeSkipped, "the role has no bound_service_account_namespace_selector"
	case !a.selectorPending:
		return outcomeSkipped, "the namespace is bound by bound_service_account_namespaces; the selector is not consulted"
	}
	return outcomePassed, fmt.Sprintf("the labels of namespace %q match bound_service_account_namespace_selector", a.reviewed.Namespace)
}

// checkNamespace applies the namespace globs, then, only if they do not
// bind the namespace, the selector against the namespace's real labels.
func checkNamespace(ctx context.Context, r *roleEntry, client *kube.Client, loginJWT, namespace string) error {
	pending, err := bindNamespace(r, namespace)
	if !pending {
		return err
	}
	return checkNamespaceSelector(ctx, r, client, namespace, func(ctx context.Context) (map[string]string, error) {
		return client.NamespaceLabels(ctx, loginJWT, namespace)
	})
}

// checkNamespaceSelector matches the role's selector, parsed when the role
// was loaded, against the namespace's labels as labelsOf reads them. A
// selector that selects everything (only stored before such selectors were
// refused on write) still needs the namespace to exist, as with Vault's
// built-in method.
func checkNamespaceSelector(ctx context.Context, r *roleEntry, client *kube.Client, namespace string,
	labelsOf func(context.Context) (map[string]string, error)) error {
	sel, err := r.selector()
	if err != nil {
		return fmt.Errorf("stored role is invalid: %w", err)
	}
	nsLabels, err := labelsOf(ctx)
	if err != nil {
		if kube.Status(err) == http.StatusNotFound {
			return refusal.New(refusal.ReasonNamespace, "namespace %q does not exist", namespace)
		}
		return credentialFault(client, err, "get on namespaces")
	}
	if !sel.Matches(labels.Set(nsLabels)) {
		return refusal.New(refusal.ReasonNamespace, "namespace %q is not in bound_service_account_namespaces %q and its labels do not match the selector %q",
			namespace, r.ServiceAccountNamespaces, sel.String())
	}
	return nil
}

// credentialFault decides who is at fault when Kubernetes refuses a call.
// When the login JWT itself is the credential, a 401 or 403 means the
// workload's token is not good enough: a refusal. With a reviewer
// credential it is the operator's setup, which must not look like a bad
// login, so the error says what permission is missing.
func credentialFault(client *kube.Client, err error, permission string) error {
	status := kube.Status(err)
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return err
	}
	if kube.ReviewsItself(client.Credential()) {
		return refusal.New(refusal.ReasonReviewForbidden, "%v", err)
	}
	return fmt.Errorf("%w (the reviewer credential needs %s; check %s and its RBAC bindings)", err, permission, client.Credential())
}

func stepAliasMetadata(ctx context.Context, a *attempt) error {
	if !a.state.config.UseAnnotationsAsAliasMetadata {
		return nil
	}
	client := a.state.kube
	annotations, err := client.ServiceAccountAnnotations(ctx, a.rawJWT, a.reviewed.Namespace, a.reviewed.Name)
	if err != nil {
		return credentialFault(client, err, "get on serviceaccounts")
	}
	md, err := aliasMetadataFromAnnotations(annotations)
	if err != nil {
		return refusal.Invalid("%v", err)
	}
	a.aliasMetadata = md
	return nil
}

// explainAliasMetadata says why the alias_metadata step passed, or that it did not apply.
func explainAliasMetadata(a *attempt) (outcome, detail string) {
	st := a.state
	if !st.config.UseAnnotationsAsAliasMetadata {
		return outcomeSkipped, "use_annotations_as_alias_metadata is off"
	}
	return outcomePassed, fmt.Sprintf("%d annotations of service account %s/%s become alias metadata",
		len(a.aliasMetadata), a.reviewed.Namespace, a.reviewed.Name)
}

// Metadata keys of issued tokens and entity aliases.
const (
	metaRole         = "role"
	metaCluster      = "cluster"
	metaSAName       = "service_account_name"
	metaSANamespace  = "service_account_namespace"
	metaSASecretName = "service_account_secret_name"
	metaSAUID        = "service_account_uid"
)

// isReservedMetadataKey says which alias metadata keys are the plugin's
// own. cluster is one on every mount, also where the plugin does not set it
// (a mount with config alone): a policy reading it must be able to trust it
// whenever it is there, and adding a cluster later must not silently change
// what an annotation means.
func isReservedMetadataKey(k string) bool {
	switch k {
	case metaSAName, metaSANamespace, metaSASecretName, metaSAUID, metaCluster:
		return true
	}
	return false
}

// aliasMetadataAnnotationPrefix marks service-account annotations that are
// copied into entity alias metadata when use_annotations_as_alias_metadata.
const aliasMetadataAnnotationPrefix = "vault.hashicorp.com/alias-metadata-"

// aliasMetadataFromAnnotations keeps the prefixed annotations, without the
// prefix. A key that would overwrite one of the plugin's own metadata keys is
// an error: silently dropping or overriding it would mislead policy authors.
func aliasMetadataFromAnnotations(annotations map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range annotations {
		key, ok := strings.CutPrefix(k, aliasMetadataAnnotationPrefix)
		if !ok || key == "" {
			continue
		}
		if isReservedMetadataKey(key) {
			return nil, fmt.Errorf("service account annotation %q would overwrite the reserved alias metadata key %q", k, key)
		}
		out[key] = v
	}
	return out, nil
}

// aliasName is the entity alias name the role's alias_name_source asks for;
// a role older than the field (stored with none) uses the UID, the default.
// A named cluster's alias is prefixed with the cluster, so that each
// cluster is trusted only for its own identities: whoever controls one
// cluster (or, in hybrid mode, holds its signing key) can claim any UID or
// name, and must not land on another cluster's entity. The default
// cluster's are not prefixed, so a mount with config alone issues what
// Vault's method issues and entities made before a second cluster keep
// their aliases. checkAliasIdentity keeps the two apart.
func aliasName(r *roleEntry, sa satoken.Identity, cluster string) string {
	name := sa.UID
	if r.AliasNameSource == aliasNameSourceName {
		name = sa.Namespace + "/" + sa.Name
	}
	if cluster != defaultCluster {
		return cluster + "/" + name
	}
	return name
}

// checkAliasIdentity refuses, on a mount with named clusters, a claimed
// identity whose alias another cluster's login could also get. Cluster
// names and Kubernetes names hold no '/', so the aliases are told apart by
// their parts: UID (default), namespace/name (default), cluster/UID and
// cluster/namespace/name. Two cases remain, closed here:
//   - a UID claim holding '/' (or anything else a forged token may say)
//     would pose as a cluster-prefixed alias: a UID must be one Kubernetes
//     gives, a lower-case UUID;
//   - the default cluster's namespace/name reads as cluster/UID when the
//     namespace is called like a named cluster and the name like a UID,
//     which no real workload needs.
//
// A mount with config alone (named is nil) has one cluster and nothing to
// keep apart: it accepts what Vault's method accepts.
func checkAliasIdentity(source string, sa satoken.Identity, cluster string, named []string) error {
	if named == nil {
		return nil
	}
	if source != aliasNameSourceName {
		if !isKubernetesUID(sa.UID) {
			return refusal.New(refusal.ReasonClaims, "service-account UID claim %.64q is not a UID Kubernetes gives (a lower-case UUID); "+
				"on a mount with several clusters it could pose as another cluster's alias", sa.UID)
		}
		return nil
	}
	if cluster == defaultCluster && isKubernetesUID(sa.Name) && slices.Contains(named, sa.Namespace) {
		return refusal.New(refusal.ReasonClaims, "service account %s/%s of the default cluster would have the alias of cluster %q's "+
			"service account with UID %s (alias_name_source=serviceaccount_name)", sa.Namespace, sa.Name, sa.Namespace, sa.Name)
	}
	return nil
}

// isKubernetesUID says whether s is a UID as Kubernetes gives them: a UUID
// in its canonical lower-case form.
func isKubernetesUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if isHex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f'; !isHex {
				return false
			}
		}
	}
	return true
}

// aliasName is the attempt's entity alias, the same for the login, alias
// lookahead and explain.
func (a *attempt) aliasName() string { return aliasName(a.role, a.claimed, a.cluster) }

// auth is the Vault token a successful attempt earns.
func (a *attempt) auth() *logical.Auth {
	sa := a.claimed
	identity := map[string]string{
		metaSAName:       a.reviewed.Name,
		metaSANamespace:  a.reviewed.Namespace,
		metaSASecretName: sa.SecretName,
		metaSAUID:        a.reviewed.UID,
	}
	aliasMeta := make(map[string]string, len(identity)+len(a.aliasMetadata))
	for k, v := range a.aliasMetadata {
		aliasMeta[k] = v
	}
	metadata := map[string]string{metaRole: a.roleName}
	for k, v := range identity {
		aliasMeta[k] = v
		metadata[k] = v
	}
	if a.role.podBindings.used() {
		addPodMetadata(metadata, &a.reviewed)
	}
	addTokenID(metadata, a.role, a.token.Claims.ID)
	for k, v := range a.workloadMetadata {
		// In both: the token's metadata is what Vault's audit log shows of
		// each login, the alias's what templated policies read.
		metadata[k] = v
		aliasMeta[k] = v
	}
	internal := map[string]interface{}{metaRole: a.roleName}
	if a.clusters != nil {
		// Only on a mount with named clusters: one with config alone issues
		// exactly what Vault's method issues.
		metadata[metaCluster] = a.cluster
		aliasMeta[metaCluster] = a.cluster
		internal[metaCluster] = a.cluster
	}
	auth := &logical.Auth{
		InternalData: internal,
		Metadata:     metadata,
		DisplayName:  a.reviewed.Namespace + "-" + a.reviewed.Name,
		Alias: &logical.Alias{
			Name:     a.aliasName(),
			Metadata: aliasMeta,
		},
	}
	a.role.PopulateTokenAuth(auth)
	return auth
}
