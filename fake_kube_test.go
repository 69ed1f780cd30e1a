package kubeauth

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/testkit"
)

// fakeAPIAudience is the fake API server's own audience: what a TokenReview
// without spec.audiences checks against, as a real API server does.
const fakeAPIAudience = "https://kubernetes.default.svc"

// The service account the fake says the reviewer token belongs to.
const (
	fakeReviewerNamespace = "vault-auth"
	fakeReviewerName      = "vault-reviewer"
)

// fakeKube is a TLS Kubernetes API server with just enough behavior for the
// plugin's calls: TokenReview (really verifying signatures, expiry,
// audiences and that the service account still exists with the same UID),
// and GET of namespaces and service accounts. It is the unit tests' stand-in;
// the end-to-end suite runs against a real kube-apiserver.
type fakeKube struct {
	srv   *httptest.Server
	caPEM string
	key   crypto.PublicKey // verifies service-account tokens

	mu sync.Mutex
	// issuer is what the discovery document announces.
	issuer string
	// reviewerToken is the bearer token every call must carry; "" lets any
	// token that itself verifies call (the self-review mode).
	reviewerToken   string
	serviceAccounts map[string]fakeServiceAccount // "ns/name"
	namespaces      map[string]map[string]string  // name -> labels
	pods            map[string]fakePod            // "ns/name"
	// owned are the ReplicaSets and Jobs, by "replicasets/ns/name" and
	// "jobs/ns/name": their UID and owner references.
	owned map[string]metav1.ObjectMeta
	// sendNodeName: TokenReviews name the node of a token that carries
	// one, as recent API servers do.
	sendNodeName bool
	// intercept, when set, answers a request instead of the fake's logic;
	// returning false falls through to it.
	intercept func(w http.ResponseWriter, r *http.Request) bool
	// lastReview is the spec of the most recent TokenReview.
	lastReview authv1.TokenReviewSpec
	// published are the keys /openid/v1/jwks serves, by kid: key at first.
	// Tokens signed with any of them (or with key) pass a TokenReview.
	published map[string]crypto.PublicKey
	// reviewerUser is who SelfSubjectReview says the reviewer token is.
	reviewerUser string
	// denied lists the "verb resource" pairs SelfSubjectAccessReview
	// refuses; everything else is allowed.
	denied map[string]bool
	// clockOffset moves the Date header of every answer away from the
	// real time, as an API server with a wrong clock would send it.
	clockOffset time.Duration
	// clientCertUser, when set, is the subject CN of a TLS client
	// certificate the fake accepts as the reviewer, as an API server does
	// for a certificate its client CA signed (the chain is not checked).
	clientCertUser string
	// bearersSeen counts requests that carried an Authorization header.
	bearersSeen atomic.Int64
	// calls counts every request but the background probe's /readyz,
	// intercepted or not.
	calls atomic.Int64

	reviews atomic.Int64
	// namespaceGets counts GETs of namespaces; jwksGets and discoveryGets
	// those of the signing keys and the discovery document.
	namespaceGets, jwksGets, discoveryGets atomic.Int64
	// podGets and serviceAccountGets count GETs of pods and service accounts.
	podGets, serviceAccountGets atomic.Int64
	// ownerGets counts GETs of ReplicaSets and Jobs.
	ownerGets atomic.Int64
	// open counts client connections the server holds open.
	open atomic.Int64
}

type fakePod struct {
	uid, nodeName string
	labels        map[string]string
	owners        []metav1.OwnerReference
	// deleted, when set, is the pod's deletionTimestamp: deleted
	// gracefully and still Terminating, as with a lost node or a finalizer.
	deleted time.Time
}

type fakeServiceAccount struct {
	uid         string
	annotations map[string]string
}

func newFakeKube(t testing.TB, key crypto.PublicKey) *fakeKube {
	t.Helper()
	f := &fakeKube{
		key:             key,
		issuer:          testkit.Issuer,
		serviceAccounts: map[string]fakeServiceAccount{},
		namespaces:      map[string]map[string]string{},
		pods:            map[string]fakePod{},
		owned:           map[string]metav1.ObjectMeta{},
		published:       map[string]crypto.PublicKey{testKeyID(t, key): key},
		reviewerUser:    "system:serviceaccount:" + fakeReviewerNamespace + ":" + fakeReviewerName,
		denied:          map[string]bool{},
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// Asked for, never required: a client without a certificate is served.
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	// Tests that distrust the server's certificate on purpose would
	// otherwise print handshake errors.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			f.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			f.open.Add(-1)
		}
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.caPEM = pemCert(f.srv)
	return f
}

// pemCert is a TLS test server's certificate, to trust as its CA.
func pemCert(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func (f *fakeKube) addServiceAccount(namespace, name, uid string, annotations map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serviceAccounts[namespace+"/"+name] = fakeServiceAccount{uid: uid, annotations: annotations}
	if _, ok := f.namespaces[namespace]; !ok {
		f.namespaces[namespace] = map[string]string{}
	}
}

// putPod creates or replaces a pod.
func (f *fakeKube) putPod(namespace, name string, pod fakePod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[namespace+"/"+name] = pod
}

// putOwned adds a ReplicaSet ("replicasets") or Job ("jobs").
func (f *fakeKube) putOwned(resource, namespace string, meta metav1.ObjectMeta) {
	f.mu.Lock()
	defer f.mu.Unlock()
	meta.Namespace = namespace
	f.owned[resource+"/"+namespace+"/"+meta.Name] = meta
}

func (f *fakeKube) deletePod(namespace, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pods, namespace+"/"+name)
}

func (f *fakeKube) setSendNodeName(send bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendNodeName = send
}

func (f *fakeKube) deleteServiceAccount(namespace, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.serviceAccounts, namespace+"/"+name)
}

func (f *fakeKube) setNamespaceLabels(namespace string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.namespaces[namespace] = labels
}

func (f *fakeKube) setReviewerToken(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reviewerToken = token
}

// acceptClientCert makes a client certificate for user the reviewer.
func (f *fakeKube) acceptClientCert(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clientCertUser = user
}

// peerCN is the subject CN of the client certificate r came with, or "".
func peerCN(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

func (f *fakeKube) setIntercept(h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intercept = h
}

// everyPath, as a statusAnswer's path, matches every request.
const everyPath = ""

// statusAnswer is an API error the fake gives instead of its own answer to
// the requests whose path contains path.
type statusAnswer struct {
	path string
	code int
	msg  string
}

// answerStatus makes the fake answer the requests whose path contains path
// with a metav1.Status of code and msg, and serve the others as usual. It
// replaces the intercept.
func (f *fakeKube) answerStatus(path string, code int, msg string) {
	f.answerStatuses(statusAnswer{path, code, msg})
}

// answerStatuses is answerStatus for several paths; the first that a
// request's path contains answers it.
func (f *fakeKube) answerStatuses(answers ...statusAnswer) {
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		for _, a := range answers {
			if strings.Contains(r.URL.Path, a.path) {
				writeStatus(w, a.code, a.msg)
				return true
			}
		}
		return false
	})
}

// blackhole makes the fake API server accept a request and answer only
// once the test releases it; it counts the requests it holds.
type blackhole struct {
	release chan struct{}
	once    sync.Once
	held    atomic.Int64
	arrived chan string // each request's path as it is held
}

func holdRequests(t testing.TB, kube *fakeKube) *blackhole {
	h := &blackhole{release: make(chan struct{}), arrived: make(chan string, 1024)}
	kube.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		h.held.Add(1)
		h.arrived <- r.URL.Path
		<-h.release
		return false
	})
	t.Cleanup(h.free)
	return h
}

func (h *blackhole) free() { h.once.Do(func() { close(h.release) }) }

// deny makes SelfSubjectAccessReview refuse verb on resource.
func (f *fakeKube) deny(verb, resource string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied[verb+" "+resource] = true
}

func (f *fakeKube) setIssuer(iss string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issuer = iss
}

func (f *fakeKube) setClockOffset(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clockOffset = d
}

func (f *fakeKube) lastReviewSpec() authv1.TokenReviewSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastReview
}

func (f *fakeKube) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	intercept, reviewer, offset, certUser := f.intercept, f.reviewerToken, f.clockOffset, f.clientCertUser
	f.mu.Unlock()
	if offset != 0 {
		// net/http adds a Date header only when the handler set none.
		w.Header().Set("Date", time.Now().Add(offset).UTC().Format(http.TimeFormat))
	}
	if r.URL.Path != "/readyz" {
		f.calls.Add(1)
	}
	if intercept != nil && intercept(w, r) {
		return
	}

	if r.Header.Get("Authorization") != "" {
		f.bearersSeen.Add(1)
	}
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	// As on a real API server, anyone may read /version, but a bearer
	// token that is sent must be valid.
	anonymousVersion := bearer == "" && r.Method == http.MethodGet && r.URL.Path == "/version"
	byCert := bearer == "" && certUser != "" && peerCN(r) == certUser
	if !anonymousVersion && !byCert && (bearer == "" || (reviewer != "" && bearer != reviewer) || (reviewer == "" && f.verify(bearer, nil) != nil)) {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized")
		return
	}

	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/tokenreviews":
		f.serveTokenReview(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/readyz":
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodGet && r.URL.Path == "/version":
		writeJSON(w, http.StatusOK, map[string]string{"major": "1", "minor": "36", "gitVersion": "v1.36.3-fake"})
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
		f.serveSelfSubjectReview(w)
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
		f.serveSelfSubjectAccessReview(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/openid/v1/jwks":
		f.serveJWKS(w)
	case r.Method == http.MethodGet && r.URL.Path == "/.well-known/openid-configuration":
		f.serveDiscovery(w)
	case r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "api" && parts[2] == "namespaces":
		f.serveNamespace(w, parts[3])
	case r.Method == http.MethodGet && len(parts) == 6 && parts[2] == "namespaces" && parts[4] == "pods":
		f.servePod(w, parts[3], parts[5])
	case r.Method == http.MethodGet && len(parts) == 7 && parts[0] == "apis" && parts[3] == "namespaces" &&
		(parts[1]+"/"+parts[5] == "apps/replicasets" || parts[1]+"/"+parts[5] == "batch/jobs"):
		f.serveOwned(w, parts[5], parts[4], parts[6])
	case r.Method == http.MethodGet && len(parts) == 6 && parts[2] == "namespaces" && parts[4] == "serviceaccounts":
		f.serveServiceAccount(w, parts[3], parts[5])
	default:
		writeStatus(w, http.StatusNotFound, "no such path in the fake API server: "+r.URL.Path)
	}
}

func (f *fakeKube) serveTokenReview(w http.ResponseWriter, r *http.Request) {
	f.reviews.Add(1)
	var review authv1.TokenReview
	if !decodeBody(w, r, &review) {
		return
	}
	f.mu.Lock()
	f.lastReview = review.Spec
	f.mu.Unlock()

	review.Status = f.review(review.Spec)
	review.APIVersion, review.Kind = "authentication.k8s.io/v1", "TokenReview"
	writeJSON(w, http.StatusCreated, review)
}

// review decides a TokenReview the way the API server does for
// service-account tokens.
func (f *fakeKube) review(spec authv1.TokenReviewSpec) authv1.TokenReviewStatus {
	audiences := spec.Audiences
	if len(audiences) == 0 {
		audiences = []string{fakeAPIAudience}
	}
	var claims satoken.Claims
	if err := f.verify(spec.Token, &claims); err != nil {
		return authv1.TokenReviewStatus{Error: "invalid bearer token, " + err.Error()}
	}
	var matched []string
	for _, a := range audiences {
		if claims.Audience.Contains(a) {
			matched = append(matched, a)
		}
	}
	if len(matched) == 0 {
		return authv1.TokenReviewStatus{Error: fmt.Sprintf("token audiences %q is invalid for the target audiences %q", []string(claims.Audience), audiences)}
	}
	sa, err := satoken.IdentityFromClaims(&claims)
	if err != nil {
		return authv1.TokenReviewStatus{Error: "invalid bearer token, " + err.Error()}
	}
	f.mu.Lock()
	stored, ok := f.serviceAccounts[sa.Namespace+"/"+sa.Name]
	f.mu.Unlock()
	if !ok || stored.uid != sa.UID {
		return authv1.TokenReviewStatus{Error: fmt.Sprintf("service account %s/%s has been deleted", sa.Namespace, sa.Name)}
	}
	user := authv1.UserInfo{
		Username: "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		UID:      sa.UID,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.Namespace, "system:authenticated"},
	}
	if sa.PodName != "" {
		user.Extra = map[string]authv1.ExtraValue{satoken.ExtraPodName: {sa.PodName}, satoken.ExtraPodUID: {sa.PodUID}}
		f.mu.Lock()
		sendNode := f.sendNodeName
		f.mu.Unlock()
		if sendNode && sa.NodeName != "" {
			user.Extra[satoken.ExtraNodeName] = authv1.ExtraValue{sa.NodeName}
		}
	}
	return authv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: matched}
}

// verify checks a token's signature and expiry, decoding its claims into out.
func (f *fakeKube) verify(token string, out *satoken.Claims) error {
	tok, err := jwt.ParseSigned(token, satoken.AllowedAlgorithms)
	if err != nil {
		return err
	}
	f.mu.Lock()
	keys := []crypto.PublicKey{f.key}
	for _, k := range f.published {
		keys = append(keys, k)
	}
	f.mu.Unlock()
	var c satoken.Claims
	for _, key := range keys {
		if err = tok.Claims(key, &c); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, 0); err != nil {
		return err
	}
	if out != nil {
		*out = c
	}
	return nil
}

// publish makes the fake serve key under kid too (a rotation adds a key).
func (f *fakeKube) publish(kid string, key crypto.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published[kid] = key
}

func (f *fakeKube) serveJWKS(w http.ResponseWriter) {
	f.jwksGets.Add(1)
	f.mu.Lock()
	var set jose.JSONWebKeySet
	for kid, key := range f.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key, KeyID: kid, Use: "sig", Algorithm: string(jose.RS256)})
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// serveDiscovery answers as a kube-apiserver does, with a jwks_uri that a
// client outside the cluster could not reach.
func (f *fakeKube) serveDiscovery(w http.ResponseWriter) {
	f.discoveryGets.Add(1)
	f.mu.Lock()
	iss := f.issuer
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              "https://10.96.0.1:443/openid/v1/jwks",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// testKeyID names a public key as the kube-apiserver does.
func testKeyID(t testing.TB, key crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (f *fakeKube) serveNamespace(w http.ResponseWriter, name string) {
	f.namespaceGets.Add(1)
	f.mu.Lock()
	labels, ok := f.namespaces[name]
	f.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("namespaces %q not found", name))
		return
	}
	writeJSON(w, http.StatusOK, corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	})
}

func (f *fakeKube) servePod(w http.ResponseWriter, namespace, name string) {
	f.podGets.Add(1)
	f.mu.Lock()
	pod, ok := f.pods[namespace+"/"+name]
	f.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("pods %q not found", name))
		return
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID(pod.uid), Labels: pod.labels, OwnerReferences: pod.owners}
	if !pod.deleted.IsZero() {
		meta.DeletionTimestamp = &metav1.Time{Time: pod.deleted}
	}
	writeJSON(w, http.StatusOK, corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: meta,
		Spec:       corev1.PodSpec{NodeName: pod.nodeName},
	})
}

// serveOwned answers a GET of a ReplicaSet or Job with its metadata alone
// (all the plugin reads of it).
func (f *fakeKube) serveOwned(w http.ResponseWriter, resource, namespace, name string) {
	f.ownerGets.Add(1)
	f.mu.Lock()
	meta, ok := f.owned[resource+"/"+namespace+"/"+name]
	f.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("%s %q not found", resource, name))
		return
	}
	typ := metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}
	if resource == "jobs" {
		typ = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}
	}
	writeJSON(w, http.StatusOK, struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
	}{typ, meta})
}

func (f *fakeKube) serveServiceAccount(w http.ResponseWriter, namespace, name string) {
	f.serviceAccountGets.Add(1)
	f.mu.Lock()
	sa, ok := f.serviceAccounts[namespace+"/"+name]
	f.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("serviceaccounts %q not found", name))
		return
	}
	writeJSON(w, http.StatusOK, corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID(sa.uid), Annotations: sa.annotations},
	})
}

// serveSelfSubjectReview says who the reviewer token is.
func (f *fakeKube) serveSelfSubjectReview(w http.ResponseWriter) {
	f.mu.Lock()
	user := f.reviewerUser
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, authv1.SelfSubjectReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"},
		Status: authv1.SelfSubjectReviewStatus{UserInfo: authv1.UserInfo{
			Username: user, UID: "0b7e0f1c-reviewer", Groups: []string{"system:serviceaccounts", "system:authenticated"},
		}},
	})
}

// serveSelfSubjectAccessReview allows everything but what deny refused.
func (f *fakeKube) serveSelfSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	var review authzv1.SelfSubjectAccessReview
	if !decodeBody(w, r, &review) {
		return
	}
	attrs := review.Spec.ResourceAttributes
	if attrs == nil {
		writeStatus(w, http.StatusBadRequest, "resourceAttributes is required by the fake")
		return
	}
	f.mu.Lock()
	denied := f.denied[attrs.Verb+" "+attrs.Resource]
	f.mu.Unlock()
	review.APIVersion, review.Kind = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
	if denied {
		review.Status = authzv1.SubjectAccessReviewStatus{Allowed: false}
	} else {
		review.Status = authzv1.SubjectAccessReviewStatus{Allowed: true, Reason: "allowed by the fake"}
	}
	writeJSON(w, http.StatusCreated, review)
}

// decodeBody decodes a request's body into obj, answering 400 when it
// cannot. client-go sends protobuf by default, JSON when asked: it decodes
// either.
func decodeBody(w http.ResponseWriter, r *http.Request, obj runtime.Object) bool {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		_, _, err = scheme.Codecs.UniversalDeserializer().Decode(body, nil, obj)
	}
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus answers with a metav1.Status, as the API server does for errors.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   metav1.StatusReason(http.StatusText(code)),
		Code:     int32(code),
	})
}
