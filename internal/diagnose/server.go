package diagnose

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// caSource names where the CA bundle that verifies the API server comes
// from, as a sentence fragment.
func caSource(caCertSet, podCA bool, podCAPath string) string {
	switch {
	case caCertSet:
		return "kubernetes_ca_cert"
	case podCA:
		return "the pod's CA file " + podCAPath
	default:
		return "the system trust store"
	}
}

// APIServer: the API server answers, over TLS verified with the
// configured CA, and how fast.
func APIServer(p kube.Probe, host, ca string, route Route) Result {
	r := Result{Name: CheckAPI, Data: map[string]any{"host": host}}
	if route.Proxy != "" {
		r.Data["proxy"] = route.Proxy
	}
	if route.ServerName != "" {
		r.Data["tls_server_name"] = route.ServerName
	}
	if p.Err != nil {
		r.Status, r.Detail = Failed, p.Err.Error()
		r.Fix = apiFailureFix(p.Err, host, ca, route)
		return r
	}
	r.Data["round_trip"] = p.RoundTrip.Round(time.Microsecond).String()
	r.Data["round_trip_ms"] = float64(p.RoundTrip.Microseconds()) / 1000
	r.Data["http_status"] = p.Status
	if p.Version != "" {
		r.Data["server_version"] = p.Version
	}
	tls := "not used (plain HTTP)"
	if p.TLS {
		tls = "verified with " + ca
		if !p.ServerNotAfter.IsZero() {
			r.Data["server_certificate_not_after"] = rfc3339(p.ServerNotAfter)
		}
		if p.VerifiedBy != nil {
			r.Data["verified_by"] = p.VerifiedBy.Subject.String()
		}
	}
	r.Data["tls"] = tls
	answer := fmt.Sprintf("answered GET /version with HTTP %d in %s", p.Status, p.RoundTrip.Round(time.Millisecond/10))
	if p.Version != "" {
		answer += " (Kubernetes " + p.Version + ")"
	}
	switch {
	case p.Status >= 500:
		r.Status = Failed
		r.Detail = fmt.Sprintf("%s %s: the API server (or a proxy in front of it) is failing", host, answer)
		r.Fix = "check the API server's health, or set kubernetes_host to the API server itself rather than a failing proxy"
	case !p.TLS:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s %s over plain HTTP: %s", host, answer, PlainHTTPRisk)
		r.Fix = PlainHTTPFix
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("%s %s; TLS %s", host, answer, tls)
	}
	return r
}

// What plain HTTP to the API server costs, and the remedy: config/check
// says it of the answer it got, a config write of the address it stores.
const (
	PlainHTTPRisk = "the reviewer token and every login JWT cross the network unencrypted"
	PlainHTTPFix  = "set kubernetes_host to the API server's https:// address"
)

// apiFailureFix says what to change when the API server cannot be used.
func apiFailureFix(err error, host, ca string, route Route) string {
	if fix := routeFix(err, host, route); fix != "" {
		return fix
	}
	var api *kube.APIError
	if !errors.As(err, &api) {
		return "check kubernetes_host"
	}
	switch {
	case api.Redirect != nil:
		return "set kubernetes_host to the API server itself, not an address that redirects"
	case api.TLS && ca == "kubernetes_ca_cert":
		return "set kubernetes_ca_cert to the PEM bundle of the CA that signed the API server's serving certificate"
	case api.TLS:
		return "set kubernetes_ca_cert to the PEM bundle of the CA that signed the API server's serving certificate (" + ca + " does not verify it)"
	case route.Proxy != "":
		return "check that kubernetes_host (" + host + ") is the API server's address and that the proxy kubernetes_proxy_url (" + route.Proxy + ") lets Vault reach it"
	default:
		return "check that kubernetes_host (" + host + ") is the API server's address and that Vault can reach it (DNS, routes, firewalls, proxies)"
	}
}

// CA: the CA certificates trusted for the API server, and when
// they expire.
func CA(certs []*x509.Certificate, source string, readErr error, now time.Time) Result {
	r := Result{Name: CheckCA, Data: map[string]any{"source": source}}
	if readErr != nil {
		r.Status, r.Detail = Failed, readErr.Error()
		r.Fix = "fix the CA bundle or set kubernetes_ca_cert"
		return r
	}
	if len(certs) == 0 {
		return Skip(CheckCA, "no CA is configured: the API server's certificate is checked against the system trust store, whose certificates are not inspected here")
	}
	var list []map[string]any
	var expired, expiring []string
	var first *x509.Certificate
	for _, c := range certs {
		list = append(list, map[string]any{"subject": c.Subject.String(), "not_after": rfc3339(c.NotAfter)})
		switch {
		case !now.Before(c.NotAfter):
			expired = append(expired, fmt.Sprintf("%q expired on %s", c.Subject.String(), rfc3339(c.NotAfter)))
			continue
		case c.NotAfter.Sub(now) < caExpiryWarning:
			expiring = append(expiring, fmt.Sprintf("%q expires on %s, in %s", c.Subject.String(), rfc3339(c.NotAfter), roughly(c.NotAfter.Sub(now))))
		}
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	r.Data["certificates"] = list
	renew := "renew the cluster's CA and write the new bundle as kubernetes_ca_cert before the old one expires"
	if source != "kubernetes_ca_cert" {
		renew = "renew the cluster's CA before it expires"
	}
	switch {
	case first == nil:
		r.Status = Failed
		r.Detail = fmt.Sprintf("every CA certificate of %s has expired: %s", source, strings.Join(expired, "; "))
		r.Fix = "write kubernetes_ca_cert with the cluster's current CA bundle"
	case len(expiring) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("a CA certificate of %s expires within 30 days: %s", source, strings.Join(expiring, "; "))
		r.Fix = renew
	case len(expired) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s holds an expired CA certificate: %s", source, strings.Join(expired, "; "))
		r.Fix = "remove the expired certificate from kubernetes_ca_cert"
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("%s holds %d CA certificate(s); the first to expire, %q, expires on %s, in %s",
			source, len(certs), first.Subject.String(), rfc3339(first.NotAfter), roughly(first.NotAfter.Sub(now)))
	}
	return r
}

// ClockSkew: Vault's clock against the API server's Date header.
// The header has a resolution of one second; the thresholds are far above.
func ClockSkew(p kube.Probe) Result {
	if p.Date.IsZero() {
		return Skip(CheckClock, "the API server's answer carried no Date header to compare with")
	}
	// The API server's clock read somewhere within the second its Date
	// header names: the skew is the least that agrees with that, the API
	// server's clock minus Vault's.
	var skew time.Duration
	switch {
	case p.VaultTime.Before(p.Date):
		skew = p.Date.Sub(p.VaultTime)
	case p.VaultTime.After(p.Date.Add(time.Second)):
		skew = p.Date.Add(time.Second).Sub(p.VaultTime)
	}
	skew = skew.Round(time.Second)
	r := Result{Name: CheckClock, Data: map[string]any{
		"vault_time":      rfc3339(p.VaultTime),
		"api_server_time": rfc3339(p.Date),
		"skew_seconds":    int64(skew / time.Second),
	}}
	abs, direction := skew, "behind"
	if skew < 0 {
		abs, direction = -skew, "ahead of"
	}
	off := fmt.Sprintf("Vault's clock is %s %s the API server's", roughly(abs), direction)
	// Behind: tokens the API server just issued look issued in the future.
	// Ahead: tokens look expired early.
	effect := "tokens the cluster has just issued are refused as not yet valid (token_not_yet_valid)"
	if skew < 0 {
		effect = "short-lived tokens are refused as expired before their time (token_expired)"
	}
	switch {
	case abs > satoken.ClockSkew:
		r.Status = Failed
		r.Detail = fmt.Sprintf("%s, more than the %s the token time checks allow: %s", off, roughly(satoken.ClockSkew), effect)
		r.Fix = "synchronize the clocks of Vault's host and the API server (NTP)"
	case abs > clockSkewWarning:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%s; the token time checks allow %s", off, roughly(satoken.ClockSkew))
		r.Fix = "synchronize the clocks of Vault's host and the API server (NTP)"
	default:
		r.Status = Passed
		r.Detail = "Vault's clock and the API server's agree to within " + clockSkewWarning.String()
		if abs > 0 {
			r.Detail = off + ", within the " + clockSkewWarning.String() + " this check tolerates"
		}
	}
	return r
}
