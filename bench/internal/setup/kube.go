package setup

import (
	"context"
	"fmt"
	"sync"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
)

// Kubernetes objects besides the workload service accounts.
const (
	reviewerSA  = "vault-token-reviewer"
	reviewerCRB = "kubeauth-bench-token-reviewer"
)

// setupWorkers is how many TokenRequests and creates run at once during
// setup: enough to keep the API server busy on 2 cores, not so many that
// its priority-and-fairness queues them.
const setupWorkers = 8

// PoolStats says how the distinct workload's pool came to be.
type PoolStats struct {
	Wanted, Created int
	Took            time.Duration
	Capped          bool // -pool-setup-limit stopped the creation early
}

func (b *builder) newKubeClient() (kubernetes.Interface, error) {
	return NewKubeClient(b.cfg.Kube.Kubeconfig)
}

// NewKubeClient is the admin client of kubeconfig, allowed as many requests
// per second as setup sends.
func NewKubeClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// client-go's default of 5 requests/s would make creating thousands of
	// tokens take an hour; the API server's own fairness is the limit.
	cfg.QPS, cfg.Burst = 1000, 2000
	return kubernetes.NewForConfig(cfg)
}

// setupKube creates the namespace, the reviewer (bound to
// system:auth-delegator), the workload service accounts and the repeat
// workload's tokens, and returns the reviewer's token. The distinct
// workload's pool comes later (setupPool), once every mount has proved to
// work: a run that cannot start should not wait for thousands of tokens
// first.
func (b *builder) setupKube(ctx context.Context) (string, error) {
	kc := b.st.Kube
	if v, err := kc.Discovery().ServerVersion(); err == nil {
		b.st.Facts.KubeVersion = v.GitVersion
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fixture.Namespace}}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", fmt.Errorf("namespace: %w", err)
	}
	// No controller-manager runs in the stack: service accounts exist only
	// once created here.
	names := []string{reviewerSA}
	for i := range b.cfg.Accounts.ServiceAccounts {
		names = append(names, workloadSAName(i))
	}
	if err := CreateServiceAccounts(ctx, kc, fixture.Namespace, names); err != nil {
		return "", err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: reviewerCRB},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: reviewerSA, Namespace: fixture.Namespace}},
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", fmt.Errorf("cluster role binding: %w", err)
	}

	// No audiences: the reviewer's token is for the API server itself.
	reviewer, err := requestToken(ctx, kc, reviewerSA, nil, b.cfg.Accounts.TokenLifetime)
	if err != nil {
		return "", err
	}

	// The repeat workload: client i reuses one token of account i.
	b.st.Load.Tokens.Repeat = make([]string, b.cfg.Clients)
	err = parallel(ctx, len(b.st.Load.Tokens.Repeat), func(i int) error {
		jwt, err := requestToken(ctx, kc, workloadSAName(i), []string{fixture.Audience}, b.cfg.Accounts.TokenLifetime)
		b.st.Load.Tokens.Repeat[i] = jwt
		return err
	})
	if err != nil {
		return "", err
	}

	return reviewer, nil
}

// setupPool creates the distinct workload's tokens, when it is measured.
func (b *builder) setupPool(ctx context.Context) error {
	if !b.cfg.wantsDistinct() {
		return nil
	}
	start := time.Now()
	jwts, stats, err := b.createPool(ctx, b.st.Kube)
	if err != nil {
		return err
	}
	b.st.Facts.Pool = stats
	b.st.Load.Tokens.Pool = load.NewTokenPool(jwts, b.cfg.Accounts.ServiceAccounts, time.Now())
	progress.Printf("distinct workload: %d tokens over %d service accounts in %s (%.0f/s)",
		stats.Created, b.cfg.Accounts.ServiceAccounts, time.Since(start).Round(time.Second), float64(stats.Created)/time.Since(start).Seconds())
	if stats.Capped {
		b.notes.Add("the token pool holds %d of the %d tokens asked for: -pool-setup-limit %s was reached", stats.Created, stats.Wanted, b.cfg.Accounts.PoolSetupLimit)
	}
	return nil
}

func workloadSAName(i int) string { return WorkloadSAName(i) }

// WorkloadSAName is the i-th workload service account's name, which the
// roles' bench-sa-* matches.
func WorkloadSAName(i int) string { return fmt.Sprintf("%s%04d", fixture.WorkloadSAPrefix, i) }

// createPool requests the distinct workload's tokens, token k for account
// k mod -service-accounts, until it has -pool of them or -pool-setup-limit
// has passed; a capped pool keeps the tokens created so far, in order.
func (b *builder) createPool(ctx context.Context, kc kubernetes.Interface) ([]string, PoolStats, error) {
	start := time.Now()
	stats := PoolStats{Wanted: b.cfg.Accounts.Pool}
	limitCtx, cancel := context.WithTimeout(ctx, b.cfg.Accounts.PoolSetupLimit)
	defer cancel()
	jwts := make([]string, b.cfg.Accounts.Pool)
	var (
		mu       sync.Mutex
		firstErr error
		lastLog  = time.Now()
		done     int
	)
	err := parallel(limitCtx, b.cfg.Accounts.Pool, func(k int) error {
		jwt, err := requestToken(limitCtx, kc, workloadSAName(k%b.cfg.Accounts.ServiceAccounts), []string{fixture.Audience}, b.cfg.Accounts.TokenLifetime)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if limitCtx.Err() == nil && firstErr == nil {
				firstErr = err
			}
			return nil // the limit ends the creation, not an error
		}
		jwts[k] = jwt
		done++
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			progress.Printf("  %d of %d tokens (%.0f/s)", done, b.cfg.Accounts.Pool, float64(done)/time.Since(start).Seconds())
		}
		return nil
	})
	if err == nil {
		err = firstErr
	}
	if ctx.Err() != nil {
		return nil, stats, ctx.Err()
	}
	if err != nil {
		return nil, stats, fmt.Errorf("token pool: %w", err)
	}
	out := jwts[:0]
	for _, j := range jwts {
		if j != "" {
			out = append(out, j)
		}
	}
	stats.Created, stats.Took = len(out), time.Since(start)
	stats.Capped = len(out) < b.cfg.Accounts.Pool
	if len(out) < b.cfg.Accounts.ServiceAccounts {
		return nil, stats, fmt.Errorf("token pool: only %d tokens in %s (-pool-setup-limit), fewer than the %d service accounts", len(out), b.cfg.Accounts.PoolSetupLimit, b.cfg.Accounts.ServiceAccounts)
	}
	return out, stats, nil
}

// parallel runs fn(0..n-1) on setupWorkers goroutines and returns the first
// error; once ctx is done or a call failed, no further call starts.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || ctx.Err() != nil || next >= n {
			return 0, false
		}
		next++
		return next - 1, true
	}
	for range min(setupWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func requestToken(ctx context.Context, kc kubernetes.Interface, sa string, audiences []string, ttl time.Duration) (string, error) {
	return RequestToken(ctx, kc, fixture.Namespace, sa, audiences, ttl)
}

// RequestToken asks the TokenRequest API for a token of namespace/sa.
func RequestToken(ctx context.Context, kc kubernetes.Interface, namespace, sa string, audiences []string, ttl time.Duration) (string, error) {
	secs := int64(ttl / time.Second)
	tr := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &secs}}
	out, err := kc.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", namespace, sa, err)
	}
	return out.Status.Token, nil
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
