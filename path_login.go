package kubeauth

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/logcut"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/refusal"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// loginFields are the inputs of a login, and so of explain, which takes
// exactly what a login takes.
func loginFields(roleDesc, jwtDesc string) map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"role": {
			Type:        framework.TypeString,
			Description: roleDesc,
			Required:    true,
		},
		"jwt": {
			Type:         framework.TypeString,
			Description:  jwtDesc,
			Required:     true,
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
	}
}

func pathLogin(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "login$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "kubernetes",
			OperationVerb:   "login",
		},
		Fields: loginFields("Name of the role to log in with.", "The service-account JWT to authenticate with."),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathLogin,
				Summary:  "Log in with a service-account JWT.",
			},
			logical.AliasLookaheadOperation: &framework.PathOperation{
				Callback: b.pathLoginAliasLookahead,
			},
			logical.ResolveRoleOperation: &framework.PathOperation{
				Callback: b.pathLoginResolveRole,
			},
		},
		HelpSynopsis:    "Log in with a Kubernetes service-account JWT.",
		HelpDescription: strings.TrimSpace(loginHelp),
	}
}

// loginRole reads the request's role name and loads the role; an
// inputError is the 400 to send instead. Roles are found whatever the case
// of the name, but the name is returned as the client sent it: Vault's
// method puts it in the token's metadata that way, and scripts or audit
// filters reading it must see no change.
func (b *backend) loginRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (string, *roleEntry, error) {
	name := strings.TrimSpace(d.Get("role").(string))
	if err := validateLoginRoleName(name); err != nil {
		// The name is not kept: it is not a role's, and the log would
		// only quote it.
		return "", nil, err
	}
	role, err := b.roles.get(ctx, req.Storage, name)
	if err != nil {
		return name, nil, err
	}
	if role == nil {
		return name, nil, refusal.Invalid("role: %q does not exist", name)
	}
	return name, role, nil
}

// maxRoleNameLen caps a role name, so that a login never reads storage
// (nor logs) with a name no role could have; role writes refuse longer
// names too.
const maxRoleNameLen = 512

// roleNamePattern is the grammar of the role path's name.
var roleNamePattern = regexp.MustCompile("^" + framework.GenericNameRegex("name") + "$")

// validateLoginRoleName refuses, before any storage read, a role name that
// no role can have: one the role path would not match, one Vault's storage
// refuses as a key (a parent reference, ".."), or one longer than roles may
// be called. Such a name is a malformed request, not a missing role nor a
// storage fault.
func validateLoginRoleName(name string) error {
	switch {
	case name == "":
		return refusal.Invalid("role: is required")
	case len(name) > maxRoleNameLen:
		return refusal.Invalid("role: is %d bytes; a role name is at most %d bytes", len(name), maxRoleNameLen)
	case !roleNamePattern.MatchString(name) || strings.Contains(name, ".."):
		return refusal.Invalid("role: %.64q cannot be a role name: use letters, digits, '_', '-' and '.' (not \"..\"), "+
			"starting and ending with a letter, digit or '_'", name)
	}
	return nil
}

// newAttempt reads the request's role and JWT and loads what the login
// needs. The attempt is never nil: when err is not, it holds what was read
// before the error, for the log and the metrics. The caller releases it.
func (b *backend) newAttempt(ctx context.Context, req *logical.Request, d *framework.FieldData) (*attempt, error) {
	a := &attempt{conn: req.Connection}
	var err error
	if a.roleName, a.role, err = b.loginRole(ctx, req, d); err != nil {
		return a, err
	}
	a.rawJWT = strings.TrimSpace(d.Get("jwt").(string))
	if a.rawJWT == "" {
		return a, refusal.Invalid("jwt: is required")
	}
	if len(a.rawJWT) > satoken.MaxJWTBytes {
		return a, refusal.Invalid("jwt: is %d bytes; the limit is %d bytes (64 KiB)", len(a.rawJWT), satoken.MaxJWTBytes)
	}
	refs, err := b.mountClusters(ctx, req.Storage)
	switch {
	case err != nil:
		return a, err
	case len(refs) == 0:
		return a, refusal.ErrNotConfigured
	case len(refs) == 1 && refs[0].name == defaultCluster:
		// Config alone: the token can only be the default cluster's.
		a.cluster, a.state = defaultCluster, refs[0].state
	default:
		a.clusters = refs
		// Every named cluster, usable or not: an alias must not be one that
		// a cluster down today gives tomorrow.
		if a.namedClusters, err = b.clusterNames(ctx, req.Storage); err != nil {
			return a, err
		}
		if a.namedClusters == nil {
			// Not nil, whatever the listing says since: the mount has
			// named clusters for checkAliasIdentity.
			a.namedClusters = []string{}
		}
	}
	return a, nil
}

// release ends the attempt's use of the clusters' states.
func (a *attempt) release() {
	switch {
	case a.clusters != nil:
		releaseClusters(a.clusters)
	case a.state != nil:
		a.state.release()
	}
}

func (b *backend) pathLogin(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	defer b.metrics.LoginStarted()() // in flight until this returns
	a, err := b.newAttempt(ctx, req, d)
	defer a.release()
	if err == nil {
		err = runSteps(ctx, b.loginSteps(), a)
	}
	if err == nil {
		// Only a login that passed every step counts against its workload.
		err = b.takeLoginLimit(a)
	}
	// Read once: the count, the answer and the log line agree on it.
	o := refusal.Classify(refusal.CallerGone(ctx, err))
	b.countLogin(a, o)
	if o.Class != refusal.Passed {
		return b.loginFailed(a, o)
	}
	b.Logger().Debug("login passed", "role", logcut.Value(a.roleName), "service_account", a.reviewed.Namespace+"/"+a.reviewed.Name,
		"cluster", a.cluster, "verified_by", a.verifiedBy, "token_review_duration", a.reviewTook, "remote_addr", remoteAddr(a.conn))
	return &logical.Response{Auth: a.auth()}, nil
}

// pathLoginAliasLookahead tells Vault which entity alias a login would use
// (for MFA and quotas) from the local checks alone: no call to Kubernetes,
// so no TokenReview and no namespace lookup for a selector (the login
// itself decides those). It is not a login, so the metrics do not count it.
func (b *backend) pathLoginAliasLookahead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	a, err := b.newAttempt(ctx, req, d)
	defer a.release()
	if err == nil {
		err = runSteps(ctx, b.localSteps(), a)
	}
	if err != nil {
		return b.loginFailed(a, refusal.Classify(err))
	}
	return &logical.Response{Auth: &logical.Auth{Alias: &logical.Alias{Name: a.aliasName()}}}, nil
}

// pathLoginResolveRole names the role a login uses, so role-based quotas
// apply before any token is verified.
func (b *backend) pathLoginResolveRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, _, err := b.loginRole(ctx, req, d)
	var bad *refusal.InputError
	if errors.As(err, &bad) {
		return logical.ErrorResponse(bad.Msg), nil
	}
	if err != nil {
		return nil, err
	}
	// The stored (lower-cased) name, unlike Vault's method: Vault matches
	// role-based quotas case-sensitively, so "WEB" must not escape a quota
	// set on "web".
	return logical.ResolveRoleResponse(strings.ToLower(name))
}

// loginFailed turns a step's error into the answer: 403 for a refusal, 400
// for malformed input, and a generic error for a fault such as an
// unreachable Kubernetes API. The login path is unauthenticated, so the
// caller learns nothing about the setup (the API's address, a CA problem, a
// missing permission): the details go to the log only.
func (b *backend) loginFailed(a *attempt, o refusal.Outcome) (*logical.Response, error) {
	switch {
	case o.Class == refusal.Refused:
		b.Logger().Info("login refused", loginLogFields(a, o)...)
	case o.Class == refusal.Faulted && o.Code == refusal.FaultCanceled:
		// The caller gave up: worth counting, not an operator's alarm.
		b.Logger().Info("login failed", loginLogFields(a, o)...)
	case o.Class == refusal.Faulted:
		b.Logger().Error("login failed", loginLogFields(a, o)...)
	}
	return o.Answer()
}

// loginLogFields are the fields of a "login refused" or "login failed"
// line: everything an operator needs, each caller-chosen value cut.
func loginLogFields(a *attempt, o refusal.Outcome) []any {
	args := append([]any{"role", logcut.Value(a.roleName)}, o.LogFields()...)
	args = append(args, "remote_addr", remoteAddr(a.conn))
	if o.Class == refusal.Refused && a.claimed.Name != "" {
		// Claims refused as names Kubernetes could not have given are
		// still the caller's, hence the cut.
		args = append(args, "service_account", logcut.String(a.claimed.Namespace+"/"+a.claimed.Name, logcut.ServiceAccountRefMax))
	}
	if a.cluster != "" {
		args = append(args, "cluster", a.cluster)
	}
	return args
}

func remoteAddr(c *logical.Connection) string {
	if c == nil {
		return ""
	}
	return c.RemoteAddr
}

const loginHelp = `
Exchange a Kubernetes service-account JWT for a Vault token. The JWT is
checked against the role's bindings, then verified with the Kubernetes
TokenReview API; the token carries the role's policies and the service
account's identity as metadata.
`
