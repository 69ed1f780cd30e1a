package diagnose

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// Sources of the reviewer credential, as the answer names them.
const (
	credentialConfigured = "token_reviewer_jwt"
	credentialPodToken   = "pod_token_file"
	credentialLoginJWT   = "login_jwt"
	credentialClientCert = "token_reviewer_client_cert"
)

func credentialSourceName(c kube.Credential) string {
	switch c.(type) {
	case kube.StaticToken:
		return credentialConfigured
	case *kube.TokenFile:
		return credentialPodToken
	case kube.ClientCertificate:
		return credentialClientCert
	default:
		return credentialLoginJWT
	}
}

// selfReviewReason is why the reviewer checks are skipped in the mode
// where each login's JWT reviews itself.
const selfReviewReason = "there is no reviewer credential (token_reviewer_jwt is unset and there is no pod token to use): " +
	"each login's own JWT makes the calls, so every workload's service account needs the permissions (create tokenreviews: ClusterRole system:auth-delegator)"

// renewCredentialFix is how to replace a reviewer credential that expires:
// the kubelet replaces a pod's token, an operator mints a new JWT for the
// service account its subject names.
func renewCredentialFix(source, subject string) string {
	if source == credentialPodToken {
		return "the kubelet refreshes a pod's token well before it expires; check the pod's service-account token volume and the kubelet"
	}
	name, namespace := "<name>", "<namespace>"
	if ns, n, ok := satoken.ParseUsername(subject); ok {
		name, namespace = n, ns
	}
	return fmt.Sprintf("mint a new token for the reviewer (kubectl create token %s -n %s --duration=...) and write it as token_reviewer_jwt", name, namespace)
}

// ReviewerCredential: which credential calls Kubernetes, and when it
// expires if it is a JWT. The token is decoded without verification, only
// to read its times: Kubernetes' answer (reviewer_identity) says whether it
// is genuine. Nothing of the token itself goes into the answer.
func ReviewerCredential(source, path, token string, readErr error, now time.Time) Result {
	r := Result{Name: CheckCredential, Data: map[string]any{"source": source}}
	what := "token_reviewer_jwt"
	if source == credentialPodToken {
		what = "the pod's service-account token " + path
		r.Data["path"] = path
	}
	switch {
	case source == credentialLoginJWT:
		r.Status, r.Detail = Skipped, selfReviewReason
		return r
	case readErr != nil:
		r.Status, r.Detail = Failed, readErr.Error()
		r.Fix = "make the pod's service-account token readable by Vault, or set token_reviewer_jwt"
		return r
	}
	tok, err := jwt.ParseSigned(token, satoken.AllowedAlgorithms)
	var claims jwt.Claims
	if err == nil {
		err = tok.UnsafeClaimsWithoutVerification(&claims)
	}
	if err != nil {
		r.Status = Skipped
		r.Detail = what + " is not a JWT Kubernetes signs, so it has no expiry to read; reviewer_identity shows whether Kubernetes accepts it"
		return r
	}
	if claims.Subject != "" {
		r.Data["subject"] = claims.Subject
	}
	if claims.Issuer != "" {
		r.Data["issuer"] = claims.Issuer
	}
	if claims.Expiry == nil {
		r.Status = Passed
		r.Detail = what + " is a JWT without an expiry (a Secret-based token): it stays valid until its Secret or service account is deleted"
		return r
	}
	exp := claims.Expiry.Time()
	r.Data["expires_at"] = rfc3339(exp)
	warnAt := exp.Add(-credentialExpiryWarning)
	if claims.IssuedAt != nil {
		iat := claims.IssuedAt.Time()
		r.Data["issued_at"] = rfc3339(iat)
		if iat.Before(exp) {
			warnAt = exp.Add(-exp.Sub(iat) / 5)
		}
	}
	renew := renewCredentialFix(source, claims.Subject)
	switch {
	case !now.Before(exp):
		r.Status = Failed
		r.Detail = fmt.Sprintf("%s expired on %s (%s ago): the API server refuses it, so every login fails", what, rfc3339(exp), roughly(now.Sub(exp)))
		r.Fix = renew
	case !now.Before(warnAt):
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s expires on %s, in %s: logins fail from then on", what, rfc3339(exp), roughly(exp.Sub(now)))
		r.Fix = renew
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("%s is a JWT that expires on %s, in %s", what, rfc3339(exp), roughly(exp.Sub(now)))
	}
	return r
}

// reviewerAccount is who Kubernetes says the credential is, for naming it in a fix.
type reviewerAccount struct {
	username            string
	namespace, saName   string // set when it is a service account
	credentialRejected  bool   // the API server answered 401
	identityUnavailable bool   // SelfSubjectReview could not say
}

// subjectFlag is the kubectl flag that names the reviewer in a binding.
func (r reviewerAccount) subjectFlag() string {
	switch {
	case r.saName != "":
		return "--serviceaccount=" + r.namespace + ":" + r.saName
	case r.username != "":
		return "--user=" + r.username
	default:
		return "--serviceaccount=<namespace>:<name>"
	}
}

// bindingName is a name for a ClusterRoleBinding of the reviewer.
func (r reviewerAccount) bindingName(suffix string) string {
	if r.saName != "" {
		return r.saName + "-" + suffix
	}
	return "vault-reviewer-" + suffix
}

func (r reviewerAccount) String() string {
	if r.username != "" {
		return r.username
	}
	return "the reviewer credential"
}

// ReviewerIdentity: who the API server says the credential is
// (SelfSubjectReview). A 401 means it no longer accepts the credential.
func ReviewerIdentity(user authv1.UserInfo, err error, cred kube.Credential) (Result, reviewerAccount) {
	r := Result{Name: CheckIdentity, Data: map[string]any{}}
	if err != nil {
		who := reviewerAccount{identityUnavailable: true}
		switch kube.Status(err) {
		case http.StatusUnauthorized:
			who.credentialRejected = true
			r.Status = Failed
			r.Detail = fmt.Sprintf("the API server does not accept %s (HTTP 401): it has expired, been revoked, or its service account was deleted; every login fails", cred)
			r.Fix = rejectedCredentialFix(credentialSourceName(cred))
		case http.StatusForbidden:
			// Authenticated, or it would be a 401: the credential works,
			// only this question is not allowed.
			r.Status = Passed
			r.Detail = fmt.Sprintf("the API server accepts %s but may not tell who it is (SelfSubjectReview refused with HTTP 403)", cred)
		case http.StatusNotFound:
			r.Status = Skipped
			r.Detail = "the API server does not serve SelfSubjectReview (authentication.k8s.io/v1, Kubernetes 1.28 and later)"
		default:
			r.Status = Failed
			r.Detail = err.Error()
			r.Fix = "see kubernetes_api: the API server did not answer"
		}
		return r, who
	}
	if user.Username == anonymousUser {
		// A client certificate the API server does not trust is not an
		// error to it: the call goes on as an anonymous one.
		r.Status = Failed
		r.Detail = fmt.Sprintf("the API server does not recognize %s: it sees an anonymous caller, and every login fails", cred)
		r.Fix = rejectedCredentialFix(credentialSourceName(cred))
		return r, reviewerAccount{username: user.Username, credentialRejected: true}
	}
	who := reviewerAccount{username: user.Username}
	if ns, name, ok := satoken.ParseUsername(user.Username); ok {
		who.namespace, who.saName = ns, name
	}
	r.Data["username"] = user.Username
	if user.UID != "" {
		r.Data["uid"] = user.UID
	}
	r.Data["groups"] = user.Groups
	r.Status = Passed
	r.Detail = fmt.Sprintf("Kubernetes authenticates %s as %s", cred, user.Username)
	return r, who
}

// anonymousUser is who the API server says an unauthenticated caller is.
const anonymousUser = "system:anonymous"

// rejectedCredentialFix is how to replace a credential the API server does
// not accept, by where it comes from.
func rejectedCredentialFix(source string) string {
	switch source {
	case credentialPodToken:
		return "check the pod's service-account token volume, or set token_reviewer_jwt"
	case credentialClientCert:
		return "issue token_reviewer_client_cert from the CA in the API server's --client-ca-file (and write its key as token_reviewer_client_key)"
	default:
		return "mint a new token for the reviewer service account and write it as token_reviewer_jwt"
	}
}

// permission is one thing the reviewer must be allowed to do.
type permission struct {
	check string // the check's name
	attrs authzv1.ResourceAttributes
	// role is the ClusterRole a fix binds the reviewer to; "" means a
	// ClusterRole with just this rule, created by the fix.
	role string
	// consequence is what fails without it.
	consequence string
}

var (
	permTokenReviews = permission{
		check:       CheckTokenReviews,
		attrs:       authzv1.ResourceAttributes{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
		role:        "system:auth-delegator",
		consequence: "every login fails",
	}
	permNamespaces = permission{
		check:       CheckNamespaces,
		attrs:       authzv1.ResourceAttributes{Resource: "namespaces", Verb: "get"},
		consequence: "logins that only a namespace selector binds fail",
	}
	permPods = permission{
		check:       CheckPods,
		attrs:       authzv1.ResourceAttributes{Resource: "pods", Verb: "get"},
		consequence: "logins through roles with bound_pod_label_selector, alias_metadata_pod_labels or alias_metadata_owner fail, and renewals of token_bound_to_workload tokens are refused",
	}
	permReplicaSets = permission{
		check:       CheckReplicaSets,
		attrs:       authzv1.ResourceAttributes{Group: "apps", Resource: "replicasets", Verb: "get"},
		consequence: "logins through roles with alias_metadata_owner fail for pods a ReplicaSet owns",
	}
	permJobs = permission{
		check:       CheckJobs,
		attrs:       authzv1.ResourceAttributes{Group: "batch", Resource: "jobs", Verb: "get"},
		consequence: "logins through roles with alias_metadata_owner fail for pods a Job owns",
	}
	permServiceAccounts = permission{
		check:       CheckServiceAccounts,
		attrs:       authzv1.ResourceAttributes{Resource: "serviceaccounts", Verb: "get"},
		consequence: "every login fails, as use_annotations_as_alias_metadata reads the service account",
	}
)

func (p permission) String() string {
	s := p.attrs.Verb + " " + p.attrs.Resource
	if p.attrs.Group != "" {
		s += "." + p.attrs.Group
	}
	return s
}

// fix is the one-sentence fix for a reviewer lacking the permission.
func (p permission) fix(who reviewerAccount) string {
	if p.role != "" {
		return fmt.Sprintf("bind the reviewer to ClusterRole %s: kubectl create clusterrolebinding %s --clusterrole=%s %s",
			p.role, who.bindingName(strings.ReplaceAll(strings.TrimPrefix(p.role, "system:"), ":", "-")), p.role, who.subjectFlag())
	}
	role := "vault-reviewer-" + p.attrs.Verb + "-" + p.attrs.Resource
	resource := p.attrs.Resource // kubectl's resource.group form
	if p.attrs.Group != "" {
		resource += "." + p.attrs.Group
	}
	return fmt.Sprintf("grant the reviewer %s in every namespace: kubectl create clusterrole %s --verb=%s --resource=%s, then kubectl create clusterrolebinding %s --clusterrole=%s %s",
		p, role, p.attrs.Verb, resource, who.bindingName(p.attrs.Verb+"-"+p.attrs.Resource), role, who.subjectFlag())
}

// Permission: the SelfSubjectAccessReview's answer for one permission.
func Permission(p permission, st authzv1.SubjectAccessReviewStatus, err error, who reviewerAccount) Result {
	r := Result{Name: p.check, Data: map[string]any{
		"verb": p.attrs.Verb, "resource": p.attrs.Resource, "group": p.attrs.Group,
	}}
	if err != nil {
		r.Status = Warning
		r.Detail = fmt.Sprintf("could not ask whether %s may %s: %v", who, p, err)
		r.Fix = "see kubernetes_api and reviewer_identity"
		if kube.Status(err) == http.StatusForbidden {
			r.Fix = "let the reviewer create selfsubjectaccessreviews (ClusterRole system:basic-user grants it to every authenticated user by default)"
		}
		return r
	}
	r.Data["allowed"] = st.Allowed
	if st.Reason != "" {
		r.Data["reason"] = st.Reason
	}
	if st.EvaluationError != "" {
		r.Data["evaluation_error"] = st.EvaluationError
	}
	if st.Allowed {
		r.Status = Passed
		r.Detail = fmt.Sprintf("Kubernetes allows %s to %s", who, p)
		if st.Reason != "" {
			r.Detail += " (" + st.Reason + ")"
		}
		return r
	}
	r.Status = Failed
	r.Detail = fmt.Sprintf("%s may not %s, so %s", who, p, p.consequence)
	if p.attrs.Resource == "serviceaccounts" {
		r.Detail += " (asked for every namespace; a RoleBinding in each namespace that logs in would also do)"
	}
	r.Fix = p.fix(who)
	return r
}
