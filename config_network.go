package kubeauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/diagnose"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// How Vault reaches a cluster beyond one address and a CA: several
// addresses, a proxy, a certificate name, a client certificate. Each is a
// field of config and cluster/<name>, stored only when set, so a config
// that sets none of them is stored, read and used as before.

const (
	// maxHosts bounds kubernetes_hosts: each address may run a background
	// probe while it is down.
	maxHosts = 16
	// redactedPassword is how a read shows the proxy's password (url.URL's
	// Redacted); written back, it would replace the real one.
	redactedPassword = "xxxxx"
	maxServerNameLen = 253
)

// networkFields adds the connection fields to config's schema.
func networkFields(fields map[string]*framework.FieldSchema) {
	fields["kubernetes_hosts"] = &framework.FieldSchema{
		Type: framework.TypeCommaStringSlice,
		Description: "Every address of the Kubernetes API server, in order of preference (an HA control plane or " +
			"several load balancers). Calls go to the first address that answers and fail over to the next; a failed " +
			"address is probed again in the background. kubernetes_host is the first of them.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Kubernetes Hosts"},
	}
	fields["kubernetes_proxy_url"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "HTTP or HTTPS proxy to reach the Kubernetes API through (CONNECT for an https API server). " +
			"Credentials in the URL are stored as a secret; a read shows the password as " + redactedPassword + ". " +
			"Unset: the proxy of Vault's environment.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Kubernetes Proxy URL"},
	}
	fields["tls_server_name"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "Name the API server's certificate is verified against (and sent as SNI) instead of the " +
			"dialed address: for a tunnel or a private endpoint whose certificate names the cluster, not the address.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "TLS Server Name"},
	}
	fields["token_reviewer_client_cert"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "PEM client certificate (chain) the reviewer authenticates with instead of token_reviewer_jwt; " +
			"its user must be allowed to create TokenReviews (system:auth-delegator). Needs token_reviewer_client_key.",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Token Reviewer Client Certificate"},
	}
	fields["token_reviewer_client_key"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "PEM private key of token_reviewer_client_cert. Write-only: stored seal-wrapped, never read " +
			"back (a read says token_reviewer_client_key_set).",
		DisplayAttrs: &framework.DisplayAttributes{Name: "Token Reviewer Client Key", Sensitive: true},
	}
}

// networkFromFields reads and checks the connection fields into cfg, whose
// kubernetes_host is already set from the request.
func networkFromFields(cfg *clusterConfig, d *framework.FieldData) error {
	if raw, ok := d.GetOk("kubernetes_hosts"); ok {
		if err := cfg.setHosts(raw.([]string)); err != nil {
			return err
		}
	}
	cfg.ProxyURL = d.Get("kubernetes_proxy_url").(string)
	cfg.TLSServerName = d.Get("tls_server_name").(string)
	cfg.ReviewerClientCert = d.Get("token_reviewer_client_cert").(string)
	cfg.ReviewerClientKey = d.Get("token_reviewer_client_key").(string)
	if _, err := parseProxyURL(cfg.ProxyURL); err != nil {
		return err
	}
	if err := validateServerName(cfg.TLSServerName); err != nil {
		return err
	}
	_, err := cfg.clientCertificate()
	return err
}

// setHosts applies kubernetes_hosts: kubernetes_host becomes its first
// address (or must already be it), and a list of one is kubernetes_host
// alone, stored as before.
func (c *clusterConfig) setHosts(hosts []string) error {
	if len(hosts) > maxHosts {
		return fmt.Errorf("kubernetes_hosts: %d addresses; at most %d", len(hosts), maxHosts)
	}
	seen := map[string]bool{}
	for i, h := range hosts {
		if strings.TrimSpace(h) == "" {
			return fmt.Errorf("kubernetes_hosts: address %d is empty", i+1)
		}
		if err := kube.ValidateAddress("kubernetes_hosts", strings.TrimSpace(h)); err != nil {
			return err
		}
		n := kube.NormalizeHost(h)
		if seen[n] {
			return fmt.Errorf("kubernetes_hosts: %q is listed twice", h)
		}
		seen[n] = true
	}
	if len(hosts) == 0 {
		return nil
	}
	if c.Host != "" && kube.NormalizeHost(c.Host) != kube.NormalizeHost(hosts[0]) {
		return fmt.Errorf("kubernetes_host: %q is not the first address of kubernetes_hosts (%q); send one of them, or the same address first", c.Host, hosts[0])
	}
	if c.Host == "" {
		c.Host = strings.TrimSpace(hosts[0])
	}
	if len(hosts) > 1 {
		c.Hosts = hosts
	}
	return nil
}

// addresses is every address of the API server, kubernetes_host's alone
// when kubernetes_hosts is not stored.
func (c *clusterConfig) addresses() []string {
	if len(c.Hosts) > 1 {
		return c.Hosts
	}
	return []string{c.Host}
}

// parseProxyURL checks kubernetes_proxy_url; "" is no proxy of ours.
func parseProxyURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("kubernetes_proxy_url: %q is not a URL: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("kubernetes_proxy_url: must be an http:// or https:// URL, not %q", u.Redacted())
	case u.Hostname() == "":
		return nil, fmt.Errorf("kubernetes_proxy_url: %q has no host name", u.Redacted())
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("kubernetes_proxy_url: %q must be scheme://[user:password@]host:port, without a path, query or fragment", u.Redacted())
	}
	if p, set := u.User.Password(); set && p == redactedPassword {
		return nil, fmt.Errorf("kubernetes_proxy_url: the password is %q, the placeholder a read shows; send the real password, "+
			"or leave kubernetes_proxy_url out of a patch to keep it", redactedPassword)
	}
	return u, nil
}

// redactedProxyURL is kubernetes_proxy_url as a read shows it.
func redactedProxyURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "" // only stored data that no write accepted could get here
	}
	return u.Redacted()
}

// validateServerName checks tls_server_name: a DNS name or an IP address,
// as a certificate can name it.
func validateServerName(name string) error {
	if name == "" {
		return nil
	}
	if net.ParseIP(name) != nil {
		return nil
	}
	if len(name) > maxServerNameLen || strings.ContainsFunc(name, notHostNameRune) {
		return fmt.Errorf("tls_server_name: %.64q is not a host name or IP address (no scheme, port or path)", name)
	}
	return nil
}

// notHostNameRune: r cannot appear in a DNS name a certificate holds.
func notHostNameRune(r rune) bool {
	isLetterOrDigit := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	return !isLetterOrDigit && r != '-' && r != '.' && r != '*'
}

// clientCertificate is the reviewer's client certificate, or nil when the
// config has none.
func (c *clusterConfig) clientCertificate() (*tls.Certificate, error) {
	certPEM, keyPEM := c.ReviewerClientCert, c.ReviewerClientKey
	switch {
	case certPEM == "" && keyPEM == "":
		return nil, nil
	case keyPEM == "":
		return nil, errors.New("token_reviewer_client_key: is required with token_reviewer_client_cert")
	case certPEM == "":
		return nil, errors.New("token_reviewer_client_cert: is required with token_reviewer_client_key")
	case c.TokenReviewerJWT != "":
		return nil, errors.New("token_reviewer_client_cert: cannot be used with token_reviewer_jwt; " +
			"the reviewer is one or the other (send the one you do not use as \"\", or null in a patch)")
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("token_reviewer_client_cert / token_reviewer_client_key: %s", keyPairProblem(err))
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("token_reviewer_client_cert: %w", err)
	}
	pair.Leaf = leaf
	return &pair, nil
}

// keyPairProblem says what is wrong with a certificate and key pair in the
// field's terms, without quoting any of the key.
func keyPairProblem(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "private key does not match public key"):
		return "the key is not the certificate's key"
	case strings.Contains(msg, "failed to find any PEM data in certificate"),
		strings.Contains(msg, "failed to find certificate PEM data"):
		return "the certificate holds no PEM CERTIFICATE block"
	case strings.Contains(msg, "failed to find any PEM data in key"),
		strings.Contains(msg, "failed to find PEM block with type ending in"):
		return "the key holds no PEM PRIVATE KEY block"
	case strings.Contains(msg, "failed to parse private key"), strings.Contains(msg, "unknown private key type"):
		return "the key is not a PKCS #1, PKCS #8 or EC private key"
	}
	return "not a certificate and its key: " + msg
}

// networkReadData adds the connection fields a config sets to its read,
// secrets as set or not and the proxy's password redacted. A config that
// sets none reads exactly as Vault's method reads it.
func (c *clusterConfig) networkReadData(data map[string]any) {
	if len(c.Hosts) > 1 {
		data["kubernetes_hosts"] = slices.Clone(c.Hosts)
	}
	if c.ProxyURL != "" {
		data["kubernetes_proxy_url"] = redactedProxyURL(c.ProxyURL)
	}
	if c.TLSServerName != "" {
		data["tls_server_name"] = c.TLSServerName
	}
	if c.JWKSURL != "" {
		data["jwks_url"] = c.JWKSURL
	}
	if c.ReviewerClientCert != "" || c.ReviewerClientKey != "" {
		data["token_reviewer_client_cert"] = c.ReviewerClientCert
		data["token_reviewer_client_key_set"] = c.ReviewerClientKey != ""
	}
}

// networkPatchFields adds the stored connection fields to what a patch
// merges into: kubernetes_hosts only where stored, since kubernetes_host
// otherwise says it all.
func (c *clusterConfig) networkPatchFields(f map[string]any) {
	if len(c.Hosts) > 1 {
		f["kubernetes_hosts"] = c.Hosts
	}
	f["kubernetes_proxy_url"] = c.ProxyURL
	f["tls_server_name"] = c.TLSServerName
	f["token_reviewer_client_cert"] = c.ReviewerClientCert
	f["token_reviewer_client_key"] = c.ReviewerClientKey
}

// dropDerivedHost keeps a patch that sends only one of kubernetes_host and
// kubernetes_hosts from clashing with the stored other: the one sent
// decides, and the other follows from it.
func dropDerivedHost(merged, patch map[string]any) {
	_, host := patch["kubernetes_host"]
	_, hosts := patch["kubernetes_hosts"]
	switch {
	case hosts && !host:
		delete(merged, "kubernetes_host")
	case host && !hosts:
		delete(merged, "kubernetes_hosts")
	}
}

// routeMoved names the connection fields whose change from old to next
// lets the reviewer JWT reach a server it did not reach before: an address
// that was not one of old's, another proxy, another name the certificate
// must hold. Reordering or removing addresses moves nothing.
func routeMoved(old, next *clusterConfig) []string {
	var moved []string
	known := map[string]bool{}
	for _, a := range old.addresses() {
		known[kube.NormalizeHost(a)] = true
	}
	for _, a := range next.addresses() {
		if !known[kube.NormalizeHost(a)] {
			moved = append(moved, hostsField(old, next))
			break
		}
	}
	if old.ProxyURL != next.ProxyURL {
		moved = append(moved, "kubernetes_proxy_url")
	}
	if !strings.EqualFold(old.TLSServerName, next.TLSServerName) {
		moved = append(moved, "tls_server_name")
	}
	return moved
}

// hostsField is the field that names the addresses, as the operator wrote
// them: kubernetes_host, unless either config lists several.
func hostsField(old, next *clusterConfig) string {
	if len(old.Hosts) > 1 || len(next.Hosts) > 1 {
		return "kubernetes_hosts"
	}
	return "kubernetes_host"
}

// clientLeaf is the reviewer's client certificate for config/check, or
// nil (none, or one the state could not have been built with).
func clientLeaf(cfg *clusterConfig) *x509.Certificate {
	pair, err := cfg.clientCertificate()
	if err != nil || pair == nil {
		return nil
	}
	return pair.Leaf
}

// routeNote says, for explain, how a TokenReview reached the cluster when
// the config sets any connection field: which addresses are in turn, the
// proxy, the certificate's name, the client certificate. "" otherwise, so
// the explanation of a plain config is unchanged.
func (s *liveCluster) routeNote() string {
	cfg := s.config
	var parts []string
	if len(cfg.Hosts) > 1 {
		var up []string
		states := s.kube.Addresses()
		for _, a := range states {
			if !a.Down {
				up = append(up, a.URL)
			}
		}
		parts = append(parts, fmt.Sprintf("to the first of %d of %d addresses in turn (%s)", len(up), len(states), strings.Join(up, ", ")))
	}
	if cfg.ProxyURL != "" {
		parts = append(parts, "through the proxy "+redactedProxyURL(cfg.ProxyURL))
	}
	if cfg.TLSServerName != "" {
		parts = append(parts, fmt.Sprintf("with the certificate verified for %q", cfg.TLSServerName))
	}
	if cfg.ReviewerClientCert != "" {
		parts = append(parts, "as the client certificate token_reviewer_client_cert")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (sent " + strings.Join(parts, ", ") + ")"
}

// networkWarnings are valid but risky connection settings: another
// address over plain HTTP, proxy credentials sent in clear text, a client
// certificate that is not valid now.
func networkWarnings(cfg *clusterConfig, now time.Time) []string {
	var w []string
	for _, a := range cfg.addresses()[1:] {
		if plainHTTPHost(a) {
			w = append(w, fmt.Sprintf("kubernetes_hosts: %.64q is plain HTTP: %s; %s", a, diagnose.PlainHTTPRisk, diagnose.PlainHTTPFix))
		}
	}
	if u, err := parseProxyURL(cfg.ProxyURL); err == nil && u != nil && u.Scheme == "http" && u.User != nil {
		w = append(w, "kubernetes_proxy_url: the proxy's credentials are sent to an http:// proxy in clear text; use an https:// proxy URL")
	}
	if leaf := clientLeaf(cfg); leaf != nil && (now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter)) {
		w = append(w, fmt.Sprintf("token_reviewer_client_cert is valid only from %s to %s: the API server refuses it now, so every login fails",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	return w
}
