package soak

import (
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// token is a JWT and what the soak knows of it (Fits is the case's to say).
type token struct {
	jwt   string
	facts TokenFacts
	b     bool // cluster B's: judged against B's keys
}

// mint is one round of TokenRequest tokens: the soak keeps the last few
// rounds, so that tokens of every age up to a few minutes, and of a key
// being rotated out, stay in use.
type mint struct {
	good, pod, otherPod, wrongAud, otherNS, b token
}

const keptMints = 5

// pool holds the rounds, newest last.
type pool struct {
	mu    sync.Mutex
	mints []mint
}

func (p *pool) add(m mint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mints = append(p.mints, m)
	if len(p.mints) > keptMints {
		p.mints = p.mints[1:]
	}
}

// pick is a round at random.
func (p *pool) pick(rng *rand.Rand) mint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mints[rng.IntN(len(p.mints))]
}

// mintRound asks cluster A (either API server, whichever answers) and B for
// a round of tokens. Each is an hour long, for the audience "vault" but the
// wrong-audience one.
func (e *env) mintRound(ctx context.Context) (mint, error) {
	var m mint
	var err error
	a := func(ns string, aud string, pod *corev1.Pod) (token, error) {
		var last error
		for _, kube := range e.aKube {
			raw, err := tokenRequest(ctx, kube, ns, saName, []string{aud}, time.Hour, pod)
			if err == nil {
				return e.tokenOf(raw, false)
			}
			last = err
		}
		return token{}, last
	}
	if m.good, err = a(appNS, "vault", nil); err != nil {
		return m, err
	}
	if m.pod, err = a(appNS, "vault", e.pods[boundPod]); err != nil {
		return m, err
	}
	if m.otherPod, err = a(appNS, "vault", e.pods[otherPod]); err != nil {
		return m, err
	}
	if m.wrongAud, err = a(appNS, "not-vault", nil); err != nil {
		return m, err
	}
	if m.otherNS, err = a(otherNS, "vault", nil); err != nil {
		return m, err
	}
	raw, err := tokenRequest(ctx, e.bKube, bNS, saName, []string{"vault"}, time.Hour, nil)
	if err != nil {
		return m, err
	}
	m.b, err = e.tokenOf(raw, true)
	return m, err
}

// tokenRequest mints a token of service account ns/sa for auds (none: the
// API server's own audience), valid for ttl, bound to pod when given.
func tokenRequest(ctx context.Context, kube kubernetes.Interface, ns, sa string, auds []string, ttl time.Duration, pod *corev1.Pod) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	secs := int64(ttl / time.Second)
	spec := authnv1.TokenRequestSpec{Audiences: auds, ExpirationSeconds: &secs}
	if pod != nil {
		spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authnv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", ns, sa, err)
	}
	return tr.Status.Token, nil
}

// tokenOf reads a minted token's times and, for cluster A, which key
// generation signed it (by its kid). Cluster B's key never changes: gen 0.
func (e *env) tokenOf(raw string, b bool) (token, error) {
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return token{}, err
	}
	var c jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
		return token{}, err
	}
	f := TokenFacts{IssuedAt: c.IssuedAt.Time(), NotBefore: c.NotBefore.Time(), Expiry: c.Expiry.Time()}
	if !b {
		gen, ok := e.kids[parsed.Headers[0].KeyID]
		if !ok {
			return token{}, fmt.Errorf("a token of cluster A with an unknown kid %q", parsed.Headers[0].KeyID)
		}
		f.Key = gen
	}
	return token{jwt: raw, facts: f, b: b}, nil
}

// saClaims are a projected token's claims, for the tokens the soak signs
// itself: a clock ahead or behind is a token whose times are shifted.
type saClaims struct {
	jwt.Claims
	Kubernetes struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

// signed is a token of cluster A's app account issued at issued and valid
// for ttl, signed with the key the soak signs with now (forged: with a key
// of its own, and no kid, as a forger has no kid to give).
func (e *env) signed(issued time.Time, ttl time.Duration, forged bool) (token, error) {
	e.mu.Lock()
	gen := e.signGen
	e.mu.Unlock()
	key, kid := e.keys[gen], ""
	for k, g := range e.kids {
		if g == gen {
			kid = k
		}
	}
	if forged {
		var err error
		if key, err = rsa.GenerateKey(crand.Reader, 2048); err != nil {
			return token{}, err
		}
		gen, kid = NoKey, ""
	}
	var c saClaims
	c.Issuer, c.Subject, c.Audience = e.a.Issuer, "system:serviceaccount:"+appNS+":"+saName, jwt.Audience{"vault"}
	c.IssuedAt, c.NotBefore, c.Expiry = jwt.NewNumericDate(issued), jwt.NewNumericDate(issued), jwt.NewNumericDate(issued.Add(ttl))
	c.Kubernetes.Namespace = appNS
	c.Kubernetes.ServiceAccount.Name, c.Kubernetes.ServiceAccount.UID = saName, string(e.appSA.UID)
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return token{}, err
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return token{}, err
	}
	return token{jwt: raw, facts: TokenFacts{Key: gen, IssuedAt: c.IssuedAt.Time(), NotBefore: c.NotBefore.Time(), Expiry: c.Expiry.Time()}}, nil
}

// loginCase is one kind of login of the mix: a role, a token and whether
// the token's claims fit the role.
type loginCase struct {
	name   string
	role   string
	weight int
	fits   bool
	token  func(e *env, m mint) (token, error)
}

func fromMint(pick func(m mint) token) func(*env, mint) (token, error) {
	return func(_ *env, m mint) (token, error) { return pick(m), nil }
}

// skewed is a token signed now by a clock off by skew; expired is one whose
// exp passed ago.
func skewed(skew time.Duration) func(*env, mint) (token, error) {
	return func(e *env, _ mint) (token, error) { return e.signed(time.Now().Add(skew), 10*time.Minute, false) }
}

func expired(ago time.Duration) func(*env, mint) (token, error) {
	return func(e *env, _ mint) (token, error) {
		return e.signed(time.Now().Add(-ago-10*time.Minute), 10*time.Minute, false)
	}
}

// cases are the login mix: every role with a token that must pass, tokens
// that must be refused for each reason a role refuses, and tokens of clocks
// a few seconds (and two minutes) off.
var cases = []loginCase{
	{"always/good", "always", 4, true, fromMint(func(m mint) token { return m.good })},
	{"cached/good", "cached", 4, true, fromMint(func(m mint) token { return m.good })},
	{"hybrid/good", "hybrid", 4, true, fromMint(func(m mint) token { return m.good })},
	{"selector/good", "selector", 3, true, fromMint(func(m mint) token { return m.good })},
	{"pod/bound-pod", "pod", 3, true, fromMint(func(m mint) token { return m.pod })},
	{"b/good", "b", 3, true, fromMint(func(m mint) token { return m.b })},
	{"pod/other-pod", "pod", 1, false, fromMint(func(m mint) token { return m.otherPod })},
	{"pod/no-pod", "pod", 1, false, fromMint(func(m mint) token { return m.good })},
	{"always/wrong-audience", "always", 1, false, fromMint(func(m mint) token { return m.wrongAud })},
	{"hybrid/wrong-audience", "hybrid", 1, false, fromMint(func(m mint) token { return m.wrongAud })},
	{"always/other-namespace", "always", 1, false, fromMint(func(m mint) token { return m.otherNS })},
	{"selector/other-namespace", "selector", 1, false, fromMint(func(m mint) token { return m.otherNS })},
	{"always/cluster-b-token", "always", 1, false, fromMint(func(m mint) token { return m.b })},
	{"b/cluster-a-token", "b", 1, false, fromMint(func(m mint) token { return m.good })},
	{"always/forged", "always", 1, true, func(e *env, _ mint) (token, error) { return e.signed(time.Now(), 10*time.Minute, true) }},
	{"hybrid/forged", "hybrid", 1, true, func(e *env, _ mint) (token, error) { return e.signed(time.Now(), 10*time.Minute, true) }},
	{"always/clock+5s", "always", 1, true, skewed(5 * time.Second)},
	{"hybrid/clock+5s", "hybrid", 1, true, skewed(5 * time.Second)},
	{"cached/clock-30s", "cached", 1, true, skewed(-30 * time.Second)},
	{"hybrid/clock+30s", "hybrid", 1, true, skewed(30 * time.Second)},
	{"always/expired-5s", "always", 1, true, expired(5 * time.Second)},
	{"hybrid/expired-30s", "hybrid", 1, true, expired(30 * time.Second)},
	{"always/clock+2m", "always", 1, true, skewed(2 * time.Minute)},
	{"hybrid/clock+2m", "hybrid", 1, true, skewed(2 * time.Minute)},
	{"hybrid/expired-2m", "hybrid", 1, true, expired(2 * time.Minute)},
}

// pickCase draws a case by weight.
func pickCase(rng *rand.Rand) loginCase {
	total := 0
	for _, c := range cases {
		total += c.weight
	}
	n := rng.IntN(total)
	for _, c := range cases {
		if n < c.weight {
			return c
		}
		n -= c.weight
	}
	return cases[len(cases)-1]
}
