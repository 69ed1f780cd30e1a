// Package logcut bounds the strings a caller chose before they reach a log
// line.
package logcut

import (
	"fmt"
	"unicode/utf8"
)

// Log lines hold strings a caller chose: a role name, claims, the JOSE
// library's account of a malformed token. Each is cut, so that one request
// cannot make a line long enough for Vault to stop logging it as a line
// (it re-logs a plugin's line of 64 KiB or more only as debug fragments,
// which hides the record at the default level) or flood the log.
const (
	// ValueMax bounds one caller-derived value: a name, a claim.
	ValueMax = 64
	// DetailMax bounds a refusal's detail, which quotes several values
	// and the operator's settings they were held against.
	DetailMax = 512
	// ErrorMax bounds a fault's error text: mostly the operator's setup
	// (an address, a TLS failure, the permission missing), longer than a
	// refusal's detail.
	ErrorMax = 1 << 10
	// ServiceAccountRefMax is the longest namespace/name Kubernetes can
	// give (a DNS-1123 label, '/', a DNS-1123 subdomain): a real service
	// account is never cut.
	ServiceAccountRefMax = 63 + 1 + 253
)

// Value is s cut to ValueMax bytes, for a log field of its own.
func Value(s string) string { return String(s, ValueMax) }

// Detail is s cut to DetailMax bytes as a JSON log line holds them:
// a detail quotes values its own code may not have cut (another step's,
// or the operator's), and JSON writes some characters in six bytes.
func Detail(s string) string {
	n := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		if n += jsonLen(r, width); n > DetailMax {
			return fmt.Sprintf("%s...(cut, %d bytes)", s[:i], len(s))
		}
		i += width
	}
	return s
}

// jsonLen is how many bytes the JSON encoding of a log line (with HTML
// escaping, as hclog writes it) takes for r, read from width bytes.
func jsonLen(r rune, width int) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\f':
		// encoding/json writes \b and \f in two bytes too (since Go 1.22).
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	case r == utf8.RuneError && width == 1: // not UTF-8: written as \ufffd
		return 6
	default:
		return width
	}
}

// String keeps at most max bytes of s, on a character boundary, and
// says how long s was when it is cut, so that a reader of the log knows
// the value is not whole.
func String(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s...(cut, %d bytes)", s[:i], len(s))
}

// Quote quotes a list of caller-chosen values for a log line: the
// first few, each cut, and how many there are in all.
func Quote(vs []string) string {
	const shown = 4
	out := "["
	for i, v := range vs {
		if i == shown {
			out += fmt.Sprintf(" ...(%d in all)", len(vs))
			break
		}
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.*q", ValueMax, v)
	}
	return out + "]"
}
