// Command noopplugin is an external Vault auth plugin that checks nothing:
// its login returns a fixed token (the policies, metadata and entity alias
// of a real login on the benchmark's role) for any request. It exists only
// for the benchmark (scripts/bench.sh), as the ceiling of any external auth
// plugin on a given Vault: what Vault's login path and the plugin round trip
// cost before any verification. Never register it anywhere else: it lets
// anyone log in.
package main

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/bench/internal/fixture"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "noopplugin", JSONFormat: true, Output: os.Stderr})
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: factory, Logger: logger}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &framework.Backend{
		Help:        "A benchmark's no-op auth method: every login succeeds with a fixed token.",
		BackendType: logical.TypeCredential,
		PathsSpecial: &logical.Paths{
			Unauthenticated: []string{"login"},
		},
		Paths: []*framework.Path{{
			Pattern: "login$",
			// Declared (and ignored) so that Vault's framework does not
			// add an "ignored parameters" warning to every answer: the
			// real plugins declare them too.
			Fields: map[string]*framework.FieldSchema{
				"role": {Type: framework.TypeString},
				"jwt":  {Type: framework.TypeString},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: login, Summary: "Log in without any check."},
			},
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// Fixed identity of the token, in the shape the Kubernetes methods give it.
const (
	saName = fixture.WorkloadSAPrefix + "0000"
	saUID  = "00000000-0000-4000-8000-000000000000"
)

// login answers every request with the same token. The Auth is built anew
// each time, as a real login builds its own: Vault fills in parts of it.
func login(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	identity := map[string]string{
		"service_account_name":        saName,
		"service_account_namespace":   fixture.Namespace,
		"service_account_secret_name": "",
		"service_account_uid":         saUID,
	}
	metadata := map[string]string{"role": fixture.RoleName}
	for k, v := range identity {
		metadata[k] = v
	}
	return &logical.Response{Auth: &logical.Auth{
		InternalData: map[string]any{"role": fixture.RoleName},
		Metadata:     metadata,
		DisplayName:  fixture.Namespace + "-" + saName,
		Alias:        &logical.Alias{Name: saUID, Metadata: identity},
		Policies:     []string{fixture.WorkloadPolicy},
		TokenType:    logical.TokenTypeBatch, // fixture.TokenType, checked by a test
		LeaseOptions: logical.LeaseOptions{TTL: fixture.TokenTTL},
	}}, nil
}
