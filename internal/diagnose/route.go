package diagnose

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// The checks of how Vault reaches the API server beyond one address: each
// address of kubernetes_hosts, the proxy, the certificate's name, and a
// client certificate as the reviewer.

// CheckAddresses, on a config with several addresses: whether each answers,
// and whether they are one cluster.
const CheckAddresses = "kubernetes_addresses"

// Route is how calls travel to the API server, for the fixes that name it.
type Route struct {
	Proxy      string // kubernetes_proxy_url as a read shows it; "" none
	ServerName string // tls_server_name; "" the dialed host
}

// Addresses: each address of kubernetes_hosts asked on its own, whether it
// is in turn or not, with what the client knows of it and the keys it
// publishes (keys[i], read only from an address that answered; asker is
// who read them, nil for no one).
func Addresses(states []kube.AddressState, probes []kube.Probe, keys []AddressKeys, asker kube.Credential, ca string, route Route) Result {
	r := Result{Name: CheckAddresses}
	ref, foreign := foreignAddresses(keys)
	refusing := refusingAddresses(keys, asker)
	var failing, others, refusers []string
	list := make([]map[string]any, len(states))
	for i, st := range states {
		entry := map[string]any{"address": st.URL, "in_turn": !st.Down}
		if st.Down {
			entry["down_since"] = rfc3339(st.Since)
			entry["last_error"] = st.LastErr
		}
		p := probes[i]
		switch {
		case !answered(p):
			failing = append(failing, st.URL)
			entry["problem"] = addressProblem(p)
			entry["fix"] = addressFix(p, st.URL, ca, route)
		case slices.Contains(foreign, i):
			others = append(others, st.URL)
			entry["problem"] = fmt.Sprintf("publishes none of the service-account keys that %s publishes: it is an API server of another cluster", states[ref].URL)
			entry["fix"] = "remove " + st.URL + " from kubernetes_hosts: every address must be an API server of the same cluster " +
				"(another cluster can be written as a cluster/<name> entry of its own)"
		case slices.Contains(refusing, i):
			refusers = append(refusers, st.URL)
			entry["problem"] = fmt.Sprintf("refuses the reviewer credential (HTTP 401) that %s accepts: it is an API server of another cluster, "+
				"or one that authenticates differently, and every login reviewed there fails", states[ref].URL)
			entry["fix"] = "remove " + st.URL + " from kubernetes_hosts, or give it the same authentication as the others " +
				"(--service-account-key-file, --client-ca-file)"
		}
		if answered(p) {
			entry["round_trip_ms"] = float64(p.RoundTrip.Microseconds()) / 1000
			if k := keysAt(keys, i); k.read() {
				entry["key_ids"] = keyIDs(k.Keys)
			} else {
				entry["keys_unknown"] = keysUnknown(k, asker)
			}
		}
		list[i] = entry
	}
	r.Data = map[string]any{"addresses": list}
	switch {
	case len(others)+len(refusers) > 0:
		r.Status = Failed
		r.Detail = notOneCluster(others, refusers, failing, states[ref].URL)
		r.Fix = "see each address's problem and fix in data.addresses"
	case len(failing) == 0:
		r.Status = Passed
		r.Detail = fmt.Sprintf("all %d addresses answer GET /version", len(states)) + sameClusterNote(keys, ref)
	case len(failing) == len(states):
		r.Status = Failed
		r.Detail = "no address answers: " + strings.Join(failing, ", ") + "; every login fails"
		r.Fix = "see each address's problem and fix in data.addresses"
	default:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%d of %d addresses do not answer (%s): logins fail over to the others, with no spare left for another failure",
			len(failing), len(states), strings.Join(failing, ", "))
		r.Fix = "see each address's problem and fix in data.addresses, or remove the address from kubernetes_hosts"
	}
	return r
}

// notOneCluster is the detail of a check that found addresses of another
// cluster, by their keys (others) or by the reviewer credential they
// refuse (refusers); ref is the address they were compared with.
func notOneCluster(others, refusers, failing []string, ref string) string {
	var parts []string
	if len(others) > 0 {
		verb, noun, pronoun := "publishes", "an API server", "it"
		if len(others) > 1 {
			verb, noun, pronoun = "publish", "API servers", "them"
		}
		parts = append(parts, fmt.Sprintf("%s %s none of the service-account keys of %s: %s of another cluster, "+
			"which would review that cluster's tokens as this one's whenever a login fails over to %s",
			strings.Join(others, ", "), verb, ref, noun, pronoun))
	}
	if len(refusers) > 0 {
		verb := "refuses"
		if len(refusers) > 1 {
			verb = "refuse"
		}
		parts = append(parts, fmt.Sprintf("%s %s the reviewer credential (HTTP 401) that %s accepts: another cluster, or other authentication; "+
			"every login reviewed there fails", strings.Join(refusers, ", "), verb, ref))
	}
	if len(failing) > 0 {
		parts = append(parts, "not answering: "+strings.Join(failing, ", "))
	}
	return strings.Join(parts, "; ")
}

// answered says whether an address's probe got an answer from the API
// server itself: any HTTP status but a 5xx.
func answered(p kube.Probe) bool { return p.Err == nil && p.Status < 500 }

// keysAt is keys[i], or an unknown set where none was read.
func keysAt(keys []AddressKeys, i int) AddressKeys {
	if i < len(keys) {
		return keys[i]
	}
	return AddressKeys{Err: errors.New("not read")}
}

// keysUnknown is why an answering address's keys are not known.
func keysUnknown(k AddressKeys, asker kube.Credential) string {
	if k.Err == nil {
		return "it published no service-account key"
	}
	return discoveryUnavailable("its service-account key set", k.Err, asker)
}

// sameClusterNote says how far the addresses are known to be one cluster.
func sameClusterNote(keys []AddressKeys, ref int) string {
	unknown := 0
	for _, k := range keys {
		if !k.read() {
			unknown++
		}
	}
	switch {
	case ref < 0:
		return "; whether they are one cluster is not known: none of their service-account key sets could be read (see keys_unknown)"
	case unknown > 0:
		return fmt.Sprintf("; %d of them share service-account keys, and the key sets of %d could not be read (see keys_unknown)", len(keys)-unknown, unknown)
	default:
		return " and publish the same cluster's service-account keys"
	}
}

func addressProblem(p kube.Probe) string {
	if p.Err != nil {
		return p.Err.Error()
	}
	return fmt.Sprintf("answered GET /version with HTTP %d", p.Status)
}

func addressFix(p kube.Probe, host, ca string, route Route) string {
	if p.Err != nil {
		return apiFailureFix(p.Err, host, ca, route)
	}
	return "check the API server's health at " + host
}

// probeEach asks every address of the client on its own, and reads the
// keys of each that answers.
func probeEach(ctx context.Context, c Client, now func() time.Time) ([]kube.AddressState, []kube.Probe, []AddressKeys) {
	states := c.Addresses()
	probes := make([]kube.Probe, len(states))
	keys := make([]AddressKeys, len(states))
	for i := range states {
		probes[i] = c.ProbeAddress(ctx, i, now)
		if !answered(probes[i]) {
			keys[i].Err = errors.New("the address did not answer")
			continue
		}
		keys[i].Keys, keys[i].Err = c.PublishedKeysAt(ctx, i)
	}
	return states, probes, keys
}

// routeFix is the fix for a failure the proxy or the certificate's name
// explains, or "".
func routeFix(err error, host string, route Route) string {
	if route.Proxy != "" {
		if fix := proxyFix(err, route.Proxy); fix != "" {
			return fix
		}
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) && hostErr.Certificate != nil {
		names := certificateNames(hostErr.Certificate)
		if route.ServerName != "" {
			return fmt.Sprintf("the API server's certificate does not name tls_server_name %q; set tls_server_name to a name it holds (%s)",
				route.ServerName, names)
		}
		return fmt.Sprintf("the API server's certificate does not name the address dialed (%s); set tls_server_name to a name it holds (%s), "+
			"or set kubernetes_host to such a name", hostOf(host), names)
	}
	return ""
}

// proxyFix names the proxy when it is what failed: unreachable, refusing
// its credentials, or refusing the tunnel.
func proxyFix(err error, proxy string) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "proxyconnect" {
		return fmt.Sprintf("Vault cannot reach the proxy kubernetes_proxy_url (%s): check its address and that it listens", proxy)
	}
	switch text := innermost(err); {
	case text == http.StatusText(http.StatusProxyAuthRequired):
		return fmt.Sprintf("the proxy kubernetes_proxy_url (%s) refused its credentials (HTTP 407): write the proxy's user and password in the URL (http://user:password@host:port)", proxy)
	case isStatusText(text):
		return fmt.Sprintf("the proxy kubernetes_proxy_url (%s) refused to open a tunnel to the API server (%s): allow CONNECT to kubernetes_host's address and port on the proxy", proxy, text)
	}
	return ""
}

// innermost is the message of the error at the bottom of err's chain:
// where net/http puts the proxy's answer to a CONNECT it refused.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// isStatusText says whether s is the text of an HTTP error status.
func isStatusText(s string) bool {
	for code := 400; code < 600; code++ {
		if t := http.StatusText(code); t != "" && t == s {
			return true
		}
	}
	return false
}

func certificateNames(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "none: it has no subject alternative name"
	}
	return strings.Join(FirstN(names, 5), ", ")
}

func hostOf(host string) string {
	if u, err := url.Parse(host); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return host
}

// ClientCertCredential: the reviewer's client certificate, who it names
// and when it expires. Whether the API server trusts it is
// reviewer_identity's answer.
func ClientCertCredential(cert *x509.Certificate, now time.Time) Result {
	if cert == nil {
		return Result{Name: CheckCredential, Status: Failed, Data: map[string]any{"source": credentialClientCert},
			Detail: "token_reviewer_client_cert and token_reviewer_client_key do not make a usable certificate and key",
			Fix:    "write token_reviewer_client_cert and its own key, token_reviewer_client_key, again"}
	}
	r := Result{Name: CheckCredential, Data: map[string]any{
		"source":     credentialClientCert,
		"subject":    cert.Subject.CommonName,
		"groups":     cert.Subject.Organization,
		"issuer":     cert.Issuer.String(),
		"not_before": rfc3339(cert.NotBefore),
		"not_after":  rfc3339(cert.NotAfter),
	}}
	renew := "issue a new client certificate from the API server's client CA for the same user and write it with its key as token_reviewer_client_cert and token_reviewer_client_key"
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	switch {
	case now.Before(cert.NotBefore):
		r.Status, r.Fix = Failed, "check Vault's clock, or "+renew
		r.Detail = fmt.Sprintf("token_reviewer_client_cert is not valid before %s: the API server refuses it until then", rfc3339(cert.NotBefore))
	case !now.Before(cert.NotAfter):
		r.Status, r.Fix = Failed, renew
		r.Detail = fmt.Sprintf("token_reviewer_client_cert expired on %s (%s ago): the API server refuses it, so every login fails", rfc3339(cert.NotAfter), roughly(now.Sub(cert.NotAfter)))
	case cert.NotAfter.Sub(now) < lifetime/5:
		r.Status, r.Fix = Warning, renew
		r.Detail = fmt.Sprintf("token_reviewer_client_cert expires on %s, in %s: logins fail from then on", rfc3339(cert.NotAfter), roughly(cert.NotAfter.Sub(now)))
	default:
		r.Status = Passed
		r.Detail = fmt.Sprintf("token_reviewer_client_cert names user %q and expires on %s, in %s", cert.Subject.CommonName, rfc3339(cert.NotAfter), roughly(cert.NotAfter.Sub(now)))
	}
	return r
}
