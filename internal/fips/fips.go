// Package fips is what the plugin knows of Go's FIPS 140-3 mode: whether the
// binary was built with a frozen FIPS 140-3 module (GOFIPS140), whether the
// mode is on, and which public keys the module refuses in its strict mode
// (GODEBUG=fips140=only). Keys are checked when they are written or loaded,
// so an operator reads the setting's name in the refusal, where otherwise
// every login would fail later with a signature that "does not verify".
package fips

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rsa"
	"fmt"
	"runtime/debug"
)

// OnlySetting is the run-time setting of the strict mode, named in every
// refusal it causes.
const OnlySetting = "GODEBUG=fips140=only"

// Mode is the process's FIPS 140-3 state.
type Mode struct {
	// Module is the GOFIPS140 the binary was built with ("" for none: the
	// module of the toolchain, not a frozen one).
	Module string
	// Enabled: the mode is on (GODEBUG=fips140=on or only, the default of
	// a GOFIPS140 build being on).
	Enabled bool
	// Enforced: GODEBUG=fips140=only, where what the module does not
	// approve fails.
	Enforced bool
}

// Current is this process's mode. It cannot change while the process runs.
func Current() Mode {
	return Mode{Module: buildModule(), Enabled: fips140.Enabled(), Enforced: fips140.Enforced()}
}

// buildModule is the GOFIPS140 setting recorded in the binary, "" when the
// binary was built without one ("off" is the same as none).
func buildModule() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "GOFIPS140" && s.Value != "off" {
			return s.Value
		}
	}
	return ""
}

// Setting is the fips140 setting in force: "off", "on" or "only".
func (m Mode) Setting() string {
	switch {
	case m.Enforced:
		return "only"
	case m.Enabled:
		return "on"
	}
	return "off"
}

// Describe is a line for -version and the start-up log: which module the
// binary holds and the setting in force.
func (m Mode) Describe() string {
	module := "no frozen FIPS 140-3 module (GOFIPS140 not set at build)"
	if m.Module != "" {
		module = "FIPS 140-3 module " + m.Module + " (GOFIPS140)"
	}
	return fmt.Sprintf("%s, fips140=%s", module, m.Setting())
}

// KeyRefusal says why the FIPS 140-3 module refuses to verify signatures
// with key in its strict mode, or "" when it does not. These are the
// module's rules for public keys (SP 800-89 and FIPS 186-5): RSA of at
// least 2048 bits, an even size, and an odd public exponent above 2^16;
// ECDSA on the NIST curves; Ed25519.
func KeyRefusal(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		n := k.N.BitLen()
		switch {
		case n < 2048:
			return fmt.Sprintf("an RSA key of %d bits (2048 or more are allowed)", n)
		case n%2 == 1:
			return fmt.Sprintf("an RSA key of an odd size (%d bits)", n)
		case k.E <= 1<<16:
			return fmt.Sprintf("an RSA key with public exponent %d (it must be above 65536)", k.E)
		case k.E%2 == 0:
			return fmt.Sprintf("an RSA key with an even public exponent (%d)", k.E)
		}
		return ""
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521():
			return ""
		}
		return "an ECDSA key on a curve other than P-224, P-256, P-384 and P-521"
	case ed25519.PublicKey:
		return ""
	}
	return fmt.Sprintf("a key of type %T", key)
}

// CheckKey refuses, when enforced, a key the module would refuse, with an
// error naming the setting; it is nil when not enforced. The caller names
// the field.
func CheckKey(key crypto.PublicKey, enforced bool) error {
	if !enforced {
		return nil
	}
	if why := KeyRefusal(key); why != "" {
		return fmt.Errorf("%s is not allowed in FIPS 140-only mode (%s)", why, OnlySetting)
	}
	return nil
}
