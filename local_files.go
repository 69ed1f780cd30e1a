package kubeauth

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/kube"
)

// defaultServiceAccountDir is where Kubernetes mounts a pod's
// service-account CA and token. KUBEAUTH_LOCAL_SA_DIR overrides it (tests,
// and pods that mount the token elsewhere).
const defaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// localFiles is the pod's own service-account material, used when the
// config leaves the CA or reviewer JWT unset and disable_local_ca_jwt is false.
type localFiles struct {
	dir string
}

func defaultLocalFiles() localFiles {
	if dir := os.Getenv("KUBEAUTH_LOCAL_SA_DIR"); dir != "" {
		return localFiles{dir: dir}
	}
	return localFiles{dir: defaultServiceAccountDir}
}

func (l localFiles) caPath() string    { return filepath.Join(l.dir, "ca.crt") }
func (l localFiles) tokenPath() string { return filepath.Join(l.dir, "token") }

// readCA returns the pod's CA bundle and the version of the file it came
// from. A missing file means Vault is not in a pod: "" and no error. A file
// that exists but cannot be read is an error (and one that holds no
// certificate, see trustedCA): quietly trusting the system roots instead
// would hide the fault.
func (l localFiles) readCA() (string, fileStamp, error) {
	path := l.caPath()
	// Stat before reading: if the file changes in between, the next stat
	// differs from this one and the file is read again.
	stamp, err := statFile(path)
	if err != nil {
		return "", fileStamp{}, fmt.Errorf("the pod's CA file %s cannot be read: %w", path, err)
	}
	if !stamp.exists {
		return "", stamp, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fileStamp{}, fmt.Errorf("the pod's CA file %s cannot be read: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "", fileStamp{}, fmt.Errorf("the pod's CA file %s is empty", path)
	}
	return string(b), stamp, nil
}

// caChanged reports whether the pod's CA file differs from the version
// stamp, at the cost of one stat. A file that cannot be stat'ed counts as
// changed, so that reading it again reports the fault.
func (l localFiles) caChanged(stamp fileStamp) bool {
	now, err := statFile(l.caPath())
	return err != nil || !now.same(stamp)
}

// fileStamp identifies a version of a file by what a stat tells cheaply.
// The kubelet replaces projected files by swapping a symlink, which changes
// the modification time the stat (following the link) sees.
type fileStamp struct {
	exists  bool
	modTime time.Time
	size    int64
}

// statFile stamps path; a missing file is a stamp with exists false.
func statFile(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{exists: true, modTime: info.ModTime(), size: info.Size()}, nil
}

func (s fileStamp) same(o fileStamp) bool {
	return s.exists == o.exists && s.modTime.Equal(o.modTime) && s.size == o.size
}

func (l localFiles) hasToken() bool {
	_, err := os.Stat(l.tokenPath())
	return err == nil
}

func (l localFiles) tokenCredential() kube.Credential {
	return kube.NewTokenFile(l.tokenPath())
}
