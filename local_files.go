package kubeauth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
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

// caPEM is the pod's CA bundle, or "" outside a pod.
func (l localFiles) caPEM() string {
	b, err := os.ReadFile(l.caPath())
	if err != nil {
		return ""
	}
	return string(b)
}

func (l localFiles) hasToken() bool {
	_, err := os.Stat(l.tokenPath())
	return err == nil
}

func (l localFiles) tokenCredential() credentialSource {
	return &fileCredential{path: l.tokenPath()}
}

// fileCredential is a token file that the kubelet rotates in place. It is
// re-read only when its modification time or size changes, so each login
// costs one stat, and a rotated token is used from the next call on.
type fileCredential struct {
	path string

	mu      sync.Mutex // guards the fields below
	modTime time.Time
	size    int64
	cached  string
}

func (f *fileCredential) String() string {
	return "the pod's service-account token " + f.path
}

func (f *fileCredential) token(string) (string, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the pod's service-account token: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached != "" && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return f.cached, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the pod's service-account token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("the pod's service-account token %s is empty", f.path)
	}
	f.cached, f.modTime, f.size = token, info.ModTime(), info.Size()
	return token, nil
}
