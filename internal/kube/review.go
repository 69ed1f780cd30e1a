package kube

import (
	"context"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/metrics"
)

// Review asks Kubernetes whether jwt is genuine and current for the
// given audiences (none: the API server's own audiences). The answer is
// returned as given; what it must say for a login to pass is the caller's
// rule.
func (k *Client) Review(ctx context.Context, jwt string, audiences []string) (*authv1.TokenReviewStatus, error) {
	ctx, cancel, err := k.callContext(ctx, jwt)
	if err != nil {
		return nil, err
	}
	defer cancel()
	review := &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: jwt, Audiences: audiences}}
	start := time.Now()
	out, err := k.clientset.AuthenticationV1().TokenReviews().Create(ctx, review, metav1.CreateOptions{})
	k.metrics.TokenReviewed(reviewResult(out, err), time.Since(start))
	if err != nil {
		return nil, k.apiError("TokenReview", err)
	}
	return &out.Status, nil
}

// reviewResult names a TokenReview's outcome for the latency histogram:
// whether Kubernetes answered, and whether the answer was a clean yes.
func reviewResult(out *authv1.TokenReview, err error) string {
	switch {
	case err != nil || out == nil:
		return metrics.ReviewFailed
	case out.Status.Authenticated && out.Status.Error == "":
		return metrics.ReviewAuthenticated
	default:
		return metrics.ReviewRejected
	}
}
