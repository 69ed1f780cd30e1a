package kubeauth

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// defaultIssuer is the issuer of legacy (Secret-based) service-account
// tokens; it is enforced when issuer validation is on and no issuer is set.
const defaultIssuer = "kubernetes/serviceaccount"

// clusterConfig is the stored config. Its JSON names are those of Vault's
// built-in kubernetes auth method so either can read what the other wrote.
type clusterConfig struct {
	Host                          string   `json:"host"`
	CACert                        string   `json:"ca_cert"`
	TokenReviewerJWT              string   `json:"token_reviewer_jwt"`
	PEMKeys                       []string `json:"pem_keys"`
	Issuer                        string   `json:"issuer"`
	DisableISSValidation          bool     `json:"disable_iss_validation"`
	DisableLocalCAJwt             bool     `json:"disable_local_ca_jwt"`
	UseAnnotationsAsAliasMetadata bool     `json:"use_annotations_as_alias_metadata"`

	// How the cluster is reached (config_network.go); none of them is a
	// field of Vault's built-in method, and each is stored only when set.
	Hosts              []string `json:"kubernetes_hosts,omitempty"`
	ProxyURL           string   `json:"kubernetes_proxy_url,omitempty"`
	TLSServerName      string   `json:"tls_server_name,omitempty"`
	ReviewerClientCert string   `json:"token_reviewer_client_cert,omitempty"`
	ReviewerClientKey  string   `json:"token_reviewer_client_key,omitempty"`

	// Where the cluster's keys are read (config_jwks.go), stored only when set.
	JWKSURL string `json:"jwks_url,omitempty"`
}

// expectedIssuer is the issuer a login token must carry, or "" when the
// issuer is not checked.
func (c *clusterConfig) expectedIssuer() string {
	if c.DisableISSValidation {
		return ""
	}
	if c.Issuer != "" {
		return c.Issuer
	}
	return defaultIssuer
}

// effectiveCA is the CA bundle to trust: the configured one, else the pod's
// own CA when running in Kubernetes and allowed to (with the version of its
// file, so a rotation is noticed), else "" for the system trust store.
func (b *backend) effectiveCA(cfg *clusterConfig) (string, fileStamp, error) {
	if !usesPodCA(cfg) {
		return cfg.CACert, fileStamp{}, nil
	}
	caPEM, stamp, err := b.localFiles.readCA()
	if err != nil {
		return "", fileStamp{}, fmt.Errorf("kubernetes_ca_cert: unset, and %w (fix the file or set kubernetes_ca_cert)", err)
	}
	return caPEM, stamp, nil
}

// usesPodCA: the config leaves the CA to the pod's service-account files.
func usesPodCA(cfg *clusterConfig) bool {
	return cfg.CACert == "" && !cfg.DisableLocalCAJwt
}

// trustedCA is the effective CA bundle reduced to the certificates it
// trusts, as PEM ("" for the system trust store), with the version of the
// pod's CA file when that is the source. The pod's own CA file is not the
// caller's input, so it is always read leniently.
func (b *backend) trustedCA(cfg *clusterConfig, mode satoken.Mode) (string, fileStamp, error) {
	bundle, podCA, err := b.effectiveCA(cfg)
	if err != nil || bundle == "" {
		return "", podCA, err
	}
	field := "kubernetes_ca_cert"
	if podCA.exists {
		field, mode = "kubernetes_ca_cert: unset, and the pod's CA file "+b.localFiles.caPath(), satoken.Stored
	}
	certs, err := satoken.ParseCABundle(bundle, mode)
	if err != nil {
		return "", podCA, fmt.Errorf("%s: %w", field, err)
	}
	return satoken.EncodeCertificates(certs), podCA, nil
}

// reviewerCredential decides which bearer token authorizes calls to the
// Kubernetes API: the configured reviewer JWT, else the pod's own rotating
// token, else the JWT being reviewed.
func (b *backend) reviewerCredential(cfg *clusterConfig) kube.Credential {
	switch {
	case cfg.ReviewerClientCert != "":
		return kube.ClientCertificate{}
	case cfg.TokenReviewerJWT != "":
		// Stored as sent; a line break around it would not fit in a header.
		return kube.StaticToken(strings.TrimSpace(cfg.TokenReviewerJWT))
	case !cfg.DisableLocalCAJwt && b.localFiles.hasToken():
		return b.localFiles.tokenCredential()
	default:
		return kube.LoginJWT{}
	}
}

func pathConfig(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "config$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "kubernetes",
		},
		Fields: configFields(),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathConfigWrite,
				Summary:  "Configure how the auth method reaches and trusts the Kubernetes API.",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb:   "configure",
					OperationSuffix: "auth",
				},
			},
			logical.PatchOperation: &framework.PathOperation{
				Callback: b.pathConfigPatch,
				Summary:  "Change the fields a JSON merge patch sends (null resets a field to its default); the config must exist.",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb:   "patch",
					OperationSuffix: "auth-configuration",
				},
			},
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathConfigRead,
				Summary:  "Read the configuration (the reviewer JWT is reported as set or not, never returned).",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb:   "read",
					OperationSuffix: "auth-configuration",
				},
			},
		},
		HelpSynopsis:    "Configure the Kubernetes API this auth method verifies tokens with.",
		HelpDescription: strings.TrimSpace(configHelp),
	}
}

// configFields are the fields of config, and of each cluster/<name>.
func configFields() map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{
		"kubernetes_host": {
			Type:        framework.TypeString,
			Description: "The Kubernetes API server: a host, a host:port pair, or an https:// URL.",
			Required:    true,
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Kubernetes Host",
			},
		},
		"kubernetes_ca_cert": {
			Type: framework.TypeString,
			Description: "PEM-encoded CA certificates that sign the API server's serving certificate. " +
				"When unset, the pod's own CA is used inside Kubernetes (unless disable_local_ca_jwt), else the system trust store.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Kubernetes CA Certificate",
			},
		},
		"token_reviewer_jwt": {
			Type: framework.TypeString,
			Description: "Bearer token allowed to create TokenReviews. Never returned. When unset, the pod's own " +
				"service-account token is used inside Kubernetes (unless disable_local_ca_jwt), else the JWT being reviewed.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name:      "Token Reviewer JWT",
				Sensitive: true,
			},
		},
		"pem_keys": {
			Type: framework.TypeCommaStringSlice,
			Description: "PEM-encoded public keys or certificates of the service-account signing keys. " +
				"When set, token signatures are also verified locally before the TokenReview.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Service Account Verification Keys",
			},
		},
		"issuer": {
			Type:        framework.TypeString,
			Description: "The issuer (iss) that tokens must carry when issuer validation is on. Defaults to " + defaultIssuer + ".",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "JWT Issuer",
			},
		},
		"disable_iss_validation": {
			Type:        framework.TypeBool,
			Default:     true,
			Description: "Skip the local issuer check; the TokenReview still verifies the token.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Disable JWT Issuer Validation",
			},
		},
		"disable_local_ca_jwt": {
			Type:        framework.TypeBool,
			Default:     false,
			Description: "Do not fall back to the pod's own CA certificate and service-account token when Vault runs in Kubernetes.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Disable Local CA and JWT",
			},
		},
		"use_annotations_as_alias_metadata": {
			Type: framework.TypeBool,
			Description: "Copy the service account's " + aliasMetadataAnnotationPrefix + "* annotations into the entity alias metadata. " +
				"The reviewer credential then also needs get on serviceaccounts.",
			DisplayAttrs: &framework.DisplayAttributes{
				Name: "Use Annotations As Alias Metadata",
			},
		},
		"jwks_url": jwksURLField(),
	}
	networkFields(fields)
	return fields
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := loadConfig(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	return &logical.Response{Data: cfg.readData()}, nil
}

// readData is the read shape of a stored config: every value as stored, as
// Vault's built-in method returns it (a CA written with a final newline
// reads back with it, and pem_keys stored as null by old versions reads
// back as null), and the reviewer JWT only as set or not.
func (cfg *clusterConfig) readData() map[string]interface{} {
	data := map[string]interface{}{
		"kubernetes_host":                   cfg.Host,
		"kubernetes_ca_cert":                cfg.CACert,
		"pem_keys":                          cfg.PEMKeys,
		"issuer":                            cfg.Issuer,
		"disable_iss_validation":            cfg.DisableISSValidation,
		"disable_local_ca_jwt":              cfg.DisableLocalCAJwt,
		"token_reviewer_jwt_set":            cfg.TokenReviewerJWT != "",
		"use_annotations_as_alias_metadata": cfg.UseAnnotationsAsAliasMetadata,
	}
	cfg.networkReadData(data)
	return data
}

// pathConfigWrite replaces the whole config, as Vault's kubernetes auth
// method does: a field left out takes its default. Everything is validated,
// and the client built, before anything is stored.
func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	// One write at a time from build to install, so that the state in use
	// is always built from what storage holds.
	b.configMu.Lock()
	defer b.configMu.Unlock()
	return b.storeClusterConfig(ctx, req, defaultCluster, d)
}

// storeClusterConfig builds the config d describes for the cluster called
// name, validates it, stores it and installs its state. The caller holds
// configMu.
func (b *backend) storeClusterConfig(ctx context.Context, req *logical.Request, name string, d *framework.FieldData) (*logical.Response, error) {
	cfg, err := configFromFields(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	st, err := b.buildState(name, cfg, satoken.Strict)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}

	entry, err := logical.StorageEntryJSON(clusterStorageKey(name), cfg)
	if err != nil {
		st.close()
		return nil, err
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		st.close()
		return nil, fmt.Errorf("storing %s: %w", entry.Key, err)
	}
	b.installState(name, st)
	if name != defaultCluster {
		b.forgetClusterNames()
	}

	resp := &logical.Response{}
	for _, w := range b.configWarnings(name, cfg, st) {
		resp.AddWarning(w)
	}
	choice, err := b.clusterChoiceWarnings(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	for _, w := range choice {
		resp.AddWarning(w)
	}
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}

// configWarnings are valid but probably unintended settings of a cluster's
// config.
func (b *backend) configWarnings(name string, cfg *clusterConfig, st *liveCluster) []string {
	var w []string
	if cfg.CACert == "" && !st.podCA.exists && strings.HasPrefix(kube.NormalizeHost(cfg.Host), "https://") {
		w = append(w, "kubernetes_ca_cert is not set: the API server's certificate is checked against the system trust store")
	}
	if plainHTTPHost(cfg.Host) {
		w = append(w, fmt.Sprintf("kubernetes_host %.64q is plain HTTP: %s; %s", cfg.Host, diagnose.PlainHTTPRisk, diagnose.PlainHTTPFix))
	}
	w = append(w, networkWarnings(cfg, b.now())...)
	w = append(w, jwksURLWarnings(st)...)
	// An issuer nobody checks looks like protection and is none.
	if cfg.Issuer != "" && cfg.DisableISSValidation {
		w = append(w, "issuer is set but not enforced while disable_iss_validation is true; "+
			"write the config with disable_iss_validation=false to require it")
	}
	// The pod's own files belong to the cluster Vault runs in, which a
	// named cluster may well not be.
	if _, pod := st.kube.Credential().(*kube.TokenFile); pod && name != defaultCluster {
		w = append(w, "token_reviewer_jwt is not set: Vault's own service-account token (from its pod) is sent to "+
			cfg.Host+"; that is right only if Vault runs in this cluster, else set token_reviewer_jwt or disable_local_ca_jwt=true")
	}
	return w
}

// plainHTTPHost says whether the API server is reached without TLS. The
// host was validated on write, so a value that does not parse (only stored
// data could) is not reported.
func plainHTTPHost(host string) bool {
	u, err := url.Parse(kube.NormalizeHost(host))
	return err == nil && u.Scheme == "http"
}

// configFromFields validates the request fields into a config. Values are
// stored as sent, as Vault's built-in method stores them, so reads return
// what was written. pem_keys and the CA bundle are checked strictly when
// the client is built from them.
func configFromFields(d *framework.FieldData) (*clusterConfig, error) {
	cfg := &clusterConfig{
		Host:                          d.Get("kubernetes_host").(string),
		CACert:                        d.Get("kubernetes_ca_cert").(string),
		TokenReviewerJWT:              d.Get("token_reviewer_jwt").(string),
		PEMKeys:                       d.Get("pem_keys").([]string),
		Issuer:                        d.Get("issuer").(string),
		DisableISSValidation:          d.Get("disable_iss_validation").(bool),
		DisableLocalCAJwt:             d.Get("disable_local_ca_jwt").(bool),
		UseAnnotationsAsAliasMetadata: d.Get("use_annotations_as_alias_metadata").(bool),
		JWKSURL:                       d.Get("jwks_url").(string),
	}
	if err := validateJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	if err := networkFromFields(cfg, d); err != nil {
		return nil, err
	}
	if err := kube.ValidateHost(strings.TrimSpace(cfg.Host)); err != nil {
		return nil, err
	}
	if err := kube.ValidateBearerToken(strings.TrimSpace(cfg.TokenReviewerJWT)); err != nil {
		return nil, fmt.Errorf("token_reviewer_jwt: %w", err)
	}
	// The issuer is compared with the token's exactly; padded, it would
	// refuse every token.
	if err := noSurroundingSpace("issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	return cfg, nil
}

// noSurroundingSpace refuses a value that must match exactly but starts or
// ends with white space (typically a newline from a file).
func noSurroundingSpace(field, v string) error {
	if t := strings.TrimSpace(v); t != v {
		return fmt.Errorf("%s: %q starts or ends with white space; send %q", field, v, t)
	}
	return nil
}

// pathConfigPatch changes the config fields the patch sends and keeps the
// others as stored, token_reviewer_jwt included (which a read never
// returns, so a read-modify-write could not keep it): the patch replaces
// it, clears it with null, or leaves it. The result is validated and
// stored as a write is.
func (b *backend) pathConfigPatch(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.patchClusterConfig(ctx, req, defaultCluster, d)
}

// patchClusterConfig is the PATCH of a cluster's config (config itself
// for the default cluster); see pathConfigPatch.
func (b *backend) patchClusterConfig(ctx context.Context, req *logical.Request, name string, d *framework.FieldData) (*logical.Response, error) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := loadClusterConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		if name == defaultCluster {
			return notFound(req, "the auth method is not configured; write the config first")
		}
		return notFound(req, "cluster "+name+" does not exist; create it with a write")
	}
	merged, _ := mergePatch(cfg.fields(), req.Data, d.Schema)
	dropDerivedHost(merged, req.Data)
	fd := &framework.FieldData{Raw: merged, Schema: d.Schema}
	if err := fd.Validate(); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if _, sent := req.Data["token_reviewer_jwt"]; !sent && cfg.TokenReviewerJWT != "" {
		next, err := configFromFields(fd)
		if err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		if moved := credentialDestination(cfg, next); len(moved) > 0 {
			return logical.ErrorResponse(keptReviewerMessage(moved)), nil
		}
	}
	return b.storeClusterConfig(ctx, req, name, fd)
}

// credentialDestination names the fields whose change from old to next
// sends the reviewer JWT to another server: kubernetes_host(s), the proxy
// and the server name say where it goes (routeMoved), and the CA (kubernetes_ca_cert, or disable_local_ca_jwt while the
// CA is unset, which switches between the pod's CA and the system trust
// store) says who may answer there. A patch keeps a reviewer JWT it does
// not send, and a read never returns it, so a patch that changed these
// alone would let the patch capability deliver a secret that no policy
// lets it read to a server of its choice.
//
// The pod's own token (no reviewer JWT stored) is not held to this rule:
// it is no field of the config, and a write, which Vault's built-in
// method and this one both allow to change kubernetes_host alone, sends it
// wherever the write says.
func credentialDestination(old, next *clusterConfig) []string {
	moved := routeMoved(old, next)
	if strings.TrimSpace(old.CACert) != strings.TrimSpace(next.CACert) {
		moved = append(moved, "kubernetes_ca_cert")
	} else if next.CACert == "" && old.DisableLocalCAJwt != next.DisableLocalCAJwt {
		moved = append(moved, "disable_local_ca_jwt")
	}
	return moved
}

// keptReviewerMessage is the 400 of a patch that would send the stored
// reviewer JWT to the server the fields moved name.
func keptReviewerMessage(moved []string) string {
	return fmt.Sprintf("token_reviewer_jwt: this patch changes %s, which decides the server the stored reviewer JWT is sent to; "+
		"send token_reviewer_jwt again in the same patch (or null to clear it), or write the whole config",
		strings.Join(moved, " and "))
}

// fields is the config as a write would send it. pem_keys stored as null
// is not sent, as a write without it stores it.
func (c *clusterConfig) fields() map[string]any {
	f := map[string]any{
		"kubernetes_host":                   c.Host,
		"kubernetes_ca_cert":                c.CACert,
		"token_reviewer_jwt":                c.TokenReviewerJWT,
		"pem_keys":                          c.PEMKeys,
		"issuer":                            c.Issuer,
		"disable_iss_validation":            c.DisableISSValidation,
		"disable_local_ca_jwt":              c.DisableLocalCAJwt,
		"use_annotations_as_alias_metadata": c.UseAnnotationsAsAliasMetadata,
		"jwks_url":                          c.JWKSURL,
	}
	if c.PEMKeys == nil {
		delete(f, "pem_keys")
	}
	c.networkPatchFields(f)
	return f
}

const configHelp = `
Tells the auth method where the Kubernetes API server is (kubernetes_host),
which CA signs its certificate (kubernetes_ca_cert) and which bearer token may
create TokenReviews (token_reviewer_jwt). Optional pem_keys add a local
signature check, and issuer with disable_iss_validation=false adds a local
issuer check, both before the TokenReview. A write replaces the whole config.
`
