package verify

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/names"
	"github.com/kubeauth/vault-plugin-auth-kubernetes/tools/release/internal/sums"
)

// checkDigests checks every listed file that is present, and refuses a
// release file that is present but not listed: an operator may download a
// few of the files, but none SHA256SUMS does not vouch for.
func (r *run) checkDigests() {
	sumsName := names.Sums(r.version)
	files := make([]string, 0, len(r.listed))
	for f := range r.listed {
		files = append(files, f)
	}
	sort.Strings(files)
	checked, missing := 0, 0
	for _, f := range files {
		if !r.present(f) {
			missing++
			continue
		}
		checked++
		raw, err := r.read(f)
		switch {
		case err != nil:
			r.add(Fail, "digest", "%s cannot be read: %v", f, err)
		case sums.Bytes(raw) != r.listed[f]:
			r.add(Fail, "digest", "%s has SHA-256 %s, but %s lists %s: the file was changed or damaged", f, sums.Bytes(raw), sumsName, r.listed[f])
		default:
			r.add(OK, "digest", "%s matches %s", f, sumsName)
		}
	}
	if checked == 0 {
		r.add(Fail, "digest", "none of the files %s lists is in %s", sumsName, r.dir)
	}
	if missing > 0 {
		r.add(Skip, "digest", "%d files %s lists are not in %s and were not checked", missing, sumsName, r.dir)
	}
	unlisted, err := r.unlisted()
	if err != nil {
		r.add(Fail, "digest", "%s cannot be listed, so files %s does not list may hide in it: %v", r.dir, sumsName, err)
	}
	for _, f := range unlisted {
		r.add(Fail, "digest", "%s is not listed in %s: nothing vouches for it", f, sumsName)
	}
}

// unlisted are the release's files in the directory (named after the
// release's version, the image layout's included) that SHA256SUMS does not
// list, other than the signatures and the provenance, which are checked on
// their own.
func (r *run) unlisted() ([]string, error) {
	own := map[string]bool{
		names.Sums(r.version): true, names.Signature(names.Sums(r.version)): true,
		names.Provenance(r.version): true, names.Signature(names.Provenance(r.version)): true,
	}
	stem := strings.TrimSuffix(names.Sums(r.version), "SHA256SUMS")
	var out []string
	err := filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.dir, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && !strings.HasPrefix(rel, stem) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(rel, stem) && !own[rel] && r.listed[rel] == "" && d.Type().IsRegular() {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}
