// Package verify checks a downloaded release, as an operator does before
// installing it: the signature of SHA256SUMS, every file's digest, each
// SBOM against its binary, the provenance's signature and digests, and the
// image's binaries and SBOM. Each check gives one Result; a failed check
// says in one sentence which file is wrong and how.
package verify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/pgp"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// Status is a check's outcome.
type Status string

// The outcomes: a skipped check is one that could not run (a file not
// downloaded, no key given) and is never counted as passed.
const (
	OK   Status = "OK"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one check.
type Result struct {
	Status Status
	Check  string // what was checked: "signature", "digest", "sbom", ...
	Detail string // a sentence naming the file
}

// maxFile bounds what the verifier reads of one file.
const maxFile = 1 << 30

// run is one verification of a directory.
type run struct {
	dir, version string
	keys         openpgp.EntityList // nil: no public key given
	keyFile      string
	listed       sums.Sums
	results      []Result
}

func (r *run) add(s Status, check, format string, args ...any) {
	r.results = append(r.results, Result{s, check, fmt.Sprintf(format, args...)})
}

// Release verifies the release in dir; keyFile, when not empty, is the
// maintainers' public key. An error means nothing could be checked.
func Release(dir, keyFile string) ([]Result, error) {
	r := &run{dir: dir, keyFile: keyFile}
	if err := r.findVersion(); err != nil {
		return nil, err
	}
	if keyFile != "" {
		raw, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("the public key: %w", err)
		}
		if r.keys, err = pgp.ReadPublicKeys(raw); err != nil {
			return nil, fmt.Errorf("the public key %s: %w", keyFile, err)
		}
	}
	sumsName := names.Sums(r.version)
	raw, ok := r.signedFile(sumsName)
	if !ok {
		return r.results, nil
	}
	listed, err := sums.Parse(raw)
	if err != nil {
		r.add(Fail, "sha256sums", "%s is not a SHA256SUMS file: %v", sumsName, err)
		return r.results, nil
	}
	r.listed = listed
	r.checkDigests()
	r.checkSBOMs()
	r.checkProvenance()
	r.checkImage()
	return r.results, nil
}

// findVersion finds the release's one SHA256SUMS file and reads the
// version from its name.
func (r *run) findVersion() error {
	found, err := filepath.Glob(filepath.Join(r.dir, names.Plugin+"_*_SHA256SUMS"))
	if err != nil {
		return err
	}
	if len(found) != 1 {
		return fmt.Errorf("%s holds %d files named %s_<version>_SHA256SUMS, want one", r.dir, len(found), names.Plugin)
	}
	base := filepath.Base(found[0])
	r.version = "v" + strings.TrimSuffix(strings.TrimPrefix(base, names.Plugin+"_"), "_SHA256SUMS")
	return nil
}

// signedFile reads a file and checks its detached signature, adding the
// signature's result; ok is false when the file cannot be read.
func (r *run) signedFile(name string) (raw []byte, ok bool) {
	raw, err := r.read(name)
	if err != nil {
		r.add(Fail, "signature", "%s cannot be read: %v", name, err)
		return nil, false
	}
	sigName := names.Signature(name)
	if r.keys == nil {
		r.add(Skip, "signature", "%s: not checked, no public key given: the checks below show only that the files agree with it, not who made them", name)
		return raw, true
	}
	sig, err := r.read(sigName)
	if errors.Is(err, os.ErrNotExist) {
		r.add(Fail, "signature", "%s is missing: %s is unsigned, or its signature was not downloaded", sigName, name)
		return raw, true
	}
	if err != nil {
		r.add(Fail, "signature", "%s cannot be read: %v", sigName, err)
		return raw, true
	}
	fp, err := pgp.Verify(r.keys, raw, sig)
	switch {
	case err == nil:
		r.add(OK, "signature", "%s is signed by key %s", name, fp)
	case errors.Is(err, pgp.ErrBadSignature):
		r.add(Fail, "signature", "%s does not match its signature %s: it was changed after it was signed", name, sigName)
	case errors.Is(err, pgp.ErrUnknownKey):
		r.add(Fail, "signature", "%s was made by a key other than the public key %s (%s)", sigName, r.keyFile, pgp.Fingerprints(r.keys))
	default:
		r.add(Fail, "signature", "%s is not a usable signature of %s: %v", sigName, name, err)
	}
	return raw, true
}

// read reads a file of the release by its slash-separated name.
func (r *run) read(name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(r.dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFile {
		return nil, fmt.Errorf("%d bytes, more than the %d a release file may have", fi.Size(), maxFile)
	}
	raw := make([]byte, fi.Size())
	_, err = f.ReadAt(raw, 0)
	if fi.Size() == 0 {
		err = nil
	}
	return raw, err
}

// present says whether a release file is in the directory.
func (r *run) present(name string) bool {
	fi, err := os.Stat(filepath.Join(r.dir, filepath.FromSlash(name)))
	return err == nil && fi.Mode().IsRegular()
}
