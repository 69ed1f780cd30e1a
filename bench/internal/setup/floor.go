package setup

import (
	"context"
	"errors"
	"fmt"

	vault "github.com/hashicorp/vault/api"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/load"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/progress"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/targets"
)

// prepareFloor creates token-create's issuing tokens, when it is measured,
// from a kubernetes login's policies and metadata.
func (b *builder) prepareFloor(ctx context.Context, logins map[string]*vault.SecretAuth) error {
	if !b.cfg.wants(targets.TokenCreate) {
		return nil
	}
	var model *vault.SecretAuth
	for _, name := range []string{targets.Builtin, targets.PluginAlways, targets.Upstream, targets.Noop} {
		if model = logins[name]; model != nil {
			break
		}
	}
	if err := b.setupFloor(ctx, model); err != nil {
		return fmt.Errorf("token-create: %w", err)
	}
	return nil
}

// setupFloor creates the tokens that issue token-create's tokens: each
// client already holds a token whose only right is to create tokens, as a
// service that hands out tokens would. One issuing token
// per client, as every login client presents its own JWT
// (-floor-shared-token gives all clients the same one). The tokens issued
// are batch tokens, like the logins', unless Vault refuses that.
func (b *builder) setupFloor(ctx context.Context, login *vault.SecretAuth) error {
	if login == nil {
		return errors.New("no login on a kubernetes mount to copy policies and metadata from")
	}
	n := b.cfg.Clients
	if b.cfg.Floor.Shared {
		n = 1
	}
	tokens := b.st.Load.Tokens
	for range n {
		parent, err := b.issuingToken(ctx)
		if err != nil {
			return err
		}
		tokens.FloorTokens = append(tokens.FloorTokens, parent)
	}
	tokens.FloorBody = floorBody(login, b.cfg.Floor)
	s, err := b.firstFloorToken(ctx)
	if err != nil {
		return err
	}
	b.st.Facts.TokenKind[targets.TokenCreate] = tokenKind(s.Auth.ClientToken)
	progress.Printf("auth/token/create: OK (%s token, policies %v, metadata %v)", b.st.Facts.TokenKind[targets.TokenCreate], s.Auth.TokenPolicies, s.Auth.Metadata)
	return nil
}

// issuingToken creates one token whose only right is auth/token/create.
func (b *builder) issuingToken(ctx context.Context) (string, error) {
	// Only the issuer policy, without "default": Vault's default policy
	// is templated, so every request made with a token that holds it
	// re-parses its HCL to build the ACL, twice for a token/create with
	// no_parent (the token check, then the sudo check). That is the
	// cost of the issuing token, not of issuing a token: with it, Vault
	// spent 0.85 ms of CPU per request (more than the 0.33 ms of a whole
	// no-op login), without it 0.24 ms. The sudo the issuer policy
	// grants lifts the rule that a child's policies be a subset of its
	// parent's.
	parent, err := b.st.Admin.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{
		Policies:        []string{issuerPolicy},
		NoDefaultPolicy: true,
		TTL:             "24h",
		DisplayName:     "loginbench-floor",
	})
	if err == nil {
		err = load.CheckIssued(parent)
	}
	if err != nil {
		return "", fmt.Errorf("issuing token: %w", err)
	}
	return parent.Auth.ClientToken, nil
}

// floorBody is what token-create sends: the policies, metadata and TTL of
// a kubernetes login's token.
func floorBody(login *vault.SecretAuth, f Floor) map[string]any {
	var policies []string
	for _, p := range login.TokenPolicies {
		// "default" is attached by token/create on its own, as it is on login.
		if p != "default" {
			policies = append(policies, p)
		}
	}
	body := map[string]any{
		"policies": policies,
		"meta":     login.Metadata,
		"ttl":      fixture.TokenTTL.String(),
		"type":     fixture.TokenType,
	}
	if !f.Child {
		// A login's token has no parent; a child token costs Vault an extra
		// parent lookup (and, for a service token, a parent-index write)
		// per issue, which would raise the floor above what a login pays.
		body["no_parent"] = true
	}
	return body
}

// firstFloorToken issues one token outside the timing, as for the logins.
// Batch tokens may be refused for this kind of request; token-create then
// issues service tokens, and a note says so.
func (b *builder) firstFloorToken(ctx context.Context) (*vault.Secret, error) {
	tokens := b.st.Load.Tokens
	c, err := b.st.Load.Conn.Client(tokens.FloorTokens[0])
	if err != nil {
		return nil, err
	}
	s, err := load.Issue(ctx, c, "auth/token/create", tokens.FloorBody)
	if err == nil {
		return s, nil
	}
	b.notes.Add("auth/token/create refused a %s token (%s); token-create issues service tokens instead", fixture.TokenType, load.ShortErr(err))
	delete(tokens.FloorBody, "type")
	if s, err = load.Issue(ctx, c, "auth/token/create", tokens.FloorBody); err != nil {
		return nil, fmt.Errorf("auth/token/create: %w", err)
	}
	return s, nil
}
