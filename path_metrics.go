package kubeauth

import (
	"context"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Values of the metrics path's format field.
const (
	metricsFormatJSON       = "json"
	metricsFormatPrometheus = "prometheus"
)

// pathMetrics serves the mount's metrics. It is authenticated (not in
// PathsSpecial.Unauthenticated): a Vault token whose policy grants read on
// it, the same way Vault's own sys/metrics is read and scraped.
func pathMetrics(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "metrics$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "kubernetes",
		},
		Fields: map[string]*framework.FieldSchema{
			"format": {
				Type:        framework.TypeString,
				Description: `"json" (the default) or "prometheus" for the Prometheus text exposition format.`,
				Query:       true,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathMetricsRead,
				Summary:  "Read the mount's login metrics as JSON or in the Prometheus text format.",
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb:   "read",
					OperationSuffix: "metrics",
				},
			},
		},
		HelpSynopsis:    "The mount's login metrics, for Vault's API and for Prometheus.",
		HelpDescription: strings.TrimSpace(metricsHelp),
	}
}

func (b *backend) pathMetricsRead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	switch format := d.Get("format").(string); format {
	case "", metricsFormatJSON:
		families, err := b.metrics.Families()
		if err != nil {
			return nil, err
		}
		data := make(map[string]any, len(families))
		for name, f := range families {
			data[name] = f
		}
		return &logical.Response{Data: data}, nil
	case metricsFormatPrometheus:
		body, contentType, err := b.metrics.Text()
		if err != nil {
			return nil, err
		}
		// A raw response: Vault writes the body as it is, with this
		// content type, which is what a Prometheus scrape expects.
		return &logical.Response{Data: map[string]any{
			logical.HTTPContentType: contentType,
			logical.HTTPRawBody:     body,
			logical.HTTPStatusCode:  http.StatusOK,
		}}, nil
	default:
		return logical.ErrorResponse("format: %q is not a metrics format; use %q (the default) or %q", format, metricsFormatJSON, metricsFormatPrometheus), nil
	}
}

const metricsHelp = `
Counters and histograms of this mount's logins: logins by role and outcome,
refusals by reason code, faults by kind, TokenReview latency, review-cache
lookups, refreshes of the cluster's signing keys and logins in flight.
Label values are bounded: role names that exist, and fixed reason codes,
fault kinds and results, never a service account, a namespace or anything
else a caller sends. The counts are this mount's, kept in the plugin
process across config writes, and start from zero when the process does.

With format=prometheus the answer is the Prometheus text exposition format
(text/plain; version=0.0.4), for a Prometheus server scraping
/v1/auth/<mount>/metrics?format=prometheus with a Vault token as its bearer
token.
`
