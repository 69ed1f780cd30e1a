package kubeauth

import (
	"context"
	"errors"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/logcut"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
)

// pathExplain is a dry-run login for operators. Unlike login it needs a
// Vault token (it is not in PathsSpecial.Unauthenticated): it tells its
// caller everything the log would, which only someone entitled to the
// setup may learn.
func pathExplain(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "explain$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "kubernetes",
			OperationVerb:   "explain",
			OperationSuffix: "login",
		},
		Fields: loginFields("Name of the role the login would use.",
			"The service-account JWT the login would present. It is never returned or logged."),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathExplain,
				Summary:  "Explain, step by step, what a login with this role and JWT would do, without logging in.",
			},
		},
		HelpSynopsis:    "Dry-run a login and explain each step.",
		HelpDescription: strings.TrimSpace(explainHelp),
	}
}

// pathExplain runs the login's steps with a recorder, issues no token and
// writes nothing; the review caches are read, never filled (attempt.dryRun).
func (b *backend) pathExplain(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	a, err := b.newAttempt(ctx, req, d)
	defer a.release()
	if err != nil {
		// The caller is an operator with a Vault token: bad input is a 400,
		// and a fault is told as it is (the login path keeps it generic).
		var bad *refusal.InputError
		if errors.As(err, &bad) {
			return logical.ErrorResponse(bad.Msg), nil
		}
		return nil, err
	}
	a.dryRun = true

	steps := b.loginSteps()
	rec := &explainRecorder{a: a, steps: make([]explainedStep, 0, len(steps))}
	_ = observeSteps(ctx, steps, a, rec.observe) // every result is in rec
	rec.finish(steps)

	outcome, verdict := explainVerdict(rec.steps, a)
	data := map[string]any{
		"role":        a.roleName,
		"review_mode": a.role.mode(),
		"steps":       rec.steps,
		"identity":    identityAnswer(a),
		"outcome":     outcome,
		"verdict":     verdict,
	}
	if a.clusters != nil {
		data["clusters"] = explainClusters(a)
	}
	if outcome == outcomePassed {
		data["token"] = explainToken(a)
		data["verified_by"] = a.verifiedBy
	}
	b.Logger().Debug("login explained", "role", logcut.Value(a.roleName), "outcome", outcome, "remote_addr", remoteAddr(a.conn))
	return &logical.Response{Data: data}, nil
}

const explainHelp = `
Run the login pipeline for a role and a service-account JWT without logging
in: no token is issued, nothing is stored, and the review cache is read but
not filled. The answer lists every step in order with its outcome (passed,
refused, skipped or fault), the reason code the log would record and a
sentence saying why, then the identity and, when every step passes, the
token settings the login would get. The JWT is never returned or logged.
`
