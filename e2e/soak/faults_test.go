package soak

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/e2e/internal/realstack"
)

// faultRun applies one phase's fault and lifts it: apply runs at the
// phase's start, lift at its scheduled end (or at once when applying took
// longer). Each returns what it did, for the report.
type faultRun struct {
	apply, lift func(ctx context.Context, at func(time.Duration)) ([]string, error)
}

// faults maps each fault to its actions. at waits until an offset into the
// phase, for faults of several steps.
func (e *env) faults(hold time.Duration) map[Fault]faultRun {
	noop := func(context.Context, func(time.Duration)) ([]string, error) { return nil, nil }
	return map[Fault]faultRun{
		FaultPluginKill: {apply: func(context.Context, func(time.Duration)) ([]string, error) {
			pid := e.pluginPID()
			if pid == 0 {
				return nil, fmt.Errorf("no plugin process to kill")
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return nil, err
			}
			return []string{fmt.Sprintf("plugin process %d killed (SIGKILL); Vault starts a new one on the next request", pid)}, nil
		}, lift: noop},
		FaultVaultRestart: {apply: func(context.Context, func(time.Duration)) ([]string, error) {
			e.vault.stop()
			return []string{"Vault stopped (SIGTERM)"}, nil
		}, lift: func(ctx context.Context, _ func(time.Duration)) ([]string, error) {
			if err := e.vault.start(ctx); err != nil {
				return nil, err
			}
			if err := e.vault.unseal(ctx); err != nil {
				return nil, err
			}
			return []string{fmt.Sprintf("Vault started again (pid %d) and unsealed", e.vault.proc.PID())}, nil
		}},
		FaultAPIServerStop: {apply: func(context.Context, func(time.Duration)) ([]string, error) {
			e.a.Stop()
			return []string{fmt.Sprintf("API server :%d stopped", e.a.Port())}, nil
		}, lift: func(ctx context.Context, _ func(time.Duration)) ([]string, error) {
			if err := e.a.Restart(ctx); err != nil {
				return nil, err
			}
			return []string{fmt.Sprintf("API server :%d restarted and ready", e.a.Port())}, nil
		}},
		FaultAPIServerFreeze: {apply: func(context.Context, func(time.Duration)) ([]string, error) {
			return []string{fmt.Sprintf("API server :%d frozen (SIGSTOP)", e.peer.Port())}, e.peer.Freeze()
		}, lift: func(context.Context, func(time.Duration)) ([]string, error) {
			return []string{fmt.Sprintf("API server :%d thawed (SIGCONT)", e.peer.Port())}, e.peer.Thaw()
		}},
		FaultBindingRemoved: {apply: func(ctx context.Context, _ func(time.Duration)) ([]string, error) {
			name := reviewerBinding()
			if err := e.aKube[1].RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				return nil, err
			}
			return []string{"ClusterRoleBinding " + name + " (the reviewer's system:auth-delegator) deleted in cluster A"}, nil
		}, lift: func(ctx context.Context, _ func(time.Duration)) ([]string, error) {
			name := reviewerBinding()
			_, err := e.aKube[1].RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: realstack.ReviewerName, Namespace: realstack.ReviewerNamespace}},
			}, metav1.CreateOptions{})
			if err != nil {
				return nil, err
			}
			return []string{"the binding restored"}, nil
		}},
		FaultKeyRotation: {apply: e.rotateKeys(hold), lift: e.removeOldKey},
		FaultCARotation:  {apply: e.rotateCA, lift: e.dropOldCA},
	}
}

// reviewerBinding is the name the harness gives the reviewer's
// system:auth-delegator binding.
func reviewerBinding() string {
	return realstack.ReviewerNamespace + "-" + realstack.ReviewerName + "-system-auth-delegator"
}

// keyFiles writes cluster A's signing key of generation gen and a bundle of
// the public keys of gens, and returns their paths.
func (e *env) keyFiles(gen int, gens ...int) (keyFile, pubFile string, err error) {
	keyPEM, err := pemPrivateKey(e.keys[gen])
	if err != nil {
		return "", "", err
	}
	var pubs []byte
	for _, g := range gens {
		p, err := pemPublicKey(&e.keys[g].PublicKey)
		if err != nil {
			return "", "", err
		}
		pubs = append(pubs, p...)
	}
	tag := fmt.Sprintf("sign%d-verify%s", gen, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(gens)), "-"), "[]"))
	keyFile, pubFile = filepath.Join(e.dir, tag+".key"), filepath.Join(e.dir, tag+".pub")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return keyFile, pubFile, os.WriteFile(pubFile, pubs, 0o600)
}

// rollKeys restarts both API servers of cluster A, one after the other (so
// one always serves), signing with gen and accepting gens.
func (e *env) rollKeys(ctx context.Context, gen int, gens ...int) error {
	keyFile, pubFile, err := e.keyFiles(gen, gens...)
	if err != nil {
		return err
	}
	for _, api := range []*realstack.APIServer{e.a.APIServer, e.peer} {
		argv := realstack.ReplaceFlags(api.Argv(), nil,
			realstack.Flag{Name: "--service-account-signing-key-file", Value: keyFile},
			realstack.Flag{Name: "--service-account-key-file", Value: pubFile})
		if err := api.Reconfigure(ctx, argv, nil); err != nil {
			return err
		}
	}
	return nil
}

// rotateKeys is the rotation's first two steps: the new key accepted by
// both API servers (still signing with the old one), then the new key
// signing, the old one still accepted. Tokens of both stay in use.
func (e *env) rotateKeys(hold time.Duration) func(context.Context, func(time.Duration)) ([]string, error) {
	return func(ctx context.Context, at func(time.Duration)) ([]string, error) {
		if err := e.rollKeys(ctx, 0, 0, 1); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.keyStates[1] = KeyState{AllVerify: time.Now()}
		e.mu.Unlock()
		at(hold / 2)
		if err := e.rollKeys(ctx, 1, 0, 1); err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.signGen = 1
		e.mu.Unlock()
		if err := e.reissueReviewer(ctx); err != nil {
			return nil, err
		}
		return []string{"both API servers restarted accepting the new key, then restarted signing with it (the old key still accepted)",
			"the reviewer's token re-issued (signed with the new key) and written to config"}, nil
	}
}

// reissueReviewer gives the mount a new token of cluster A's reviewer, as
// an operator must between a new key signing and the old key's removal:
// the old token is signed with the old key, and once the API servers stop
// accepting it every TokenReview the plugin sends is refused (401), which
// is every login's fault until config is written again. A kubelet does the
// same for a projected token.
func (e *env) reissueReviewer(ctx context.Context) error {
	var last error
	for _, kube := range e.aKube {
		raw, err := tokenRequest(ctx, kube, realstack.ReviewerNamespace, realstack.ReviewerName, nil, 24*time.Hour, nil)
		if err != nil {
			last = err
			continue
		}
		e.mu.Lock()
		e.reviewer = raw
		e.mu.Unlock()
		return e.writeConfig(ctx)
	}
	return last
}

// removeOldKey is the last step: both API servers accept the new key only.
func (e *env) removeOldKey(ctx context.Context, _ func(time.Duration)) ([]string, error) {
	e.mu.Lock()
	k := e.keyStates[0]
	k.RetireStart = time.Now()
	e.keyStates[0] = k
	e.mu.Unlock()
	if err := e.rollKeys(ctx, 1, 1); err != nil {
		return nil, err
	}
	e.mu.Lock()
	k.Retired = time.Now()
	e.keyStates[0] = k
	e.mu.Unlock()
	return []string{"both API servers restarted accepting only the new key: tokens of the old key are refused from then (after the windows below)"}, nil
}

// rotateCA is the CA rotation's first steps: the mount trusts the old and
// the new CA, then both API servers move to a serving certificate of the
// new one.
func (e *env) rotateCA(ctx context.Context, _ func(time.Duration)) ([]string, error) {
	e.mu.Lock()
	e.caPEM = strings.TrimRight(e.a.CA, "\n") + "\n" + string(e.newCA)
	e.mu.Unlock()
	if err := e.writeConfig(ctx); err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(e.dir, "serving-2.crt"), filepath.Join(e.dir, "serving-2.key")
	if err := os.WriteFile(certFile, e.newCert, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, e.newKey, 0o600); err != nil {
		return nil, err
	}
	for _, api := range []*realstack.APIServer{e.a.APIServer, e.peer} {
		argv := realstack.ReplaceFlags(api.Argv(), nil,
			realstack.Flag{Name: "--tls-cert-file", Value: certFile},
			realstack.Flag{Name: "--tls-private-key-file", Value: keyFile})
		if err := api.Reconfigure(ctx, argv, e.newCA); err != nil {
			return nil, err
		}
	}
	return []string{"config's kubernetes_ca_cert written with the old and the new CA; both API servers restarted with a certificate of the new CA"}, nil
}

// dropOldCA is the CA rotation's last step: the mount trusts the new CA only.
func (e *env) dropOldCA(ctx context.Context, _ func(time.Duration)) ([]string, error) {
	e.mu.Lock()
	e.caPEM = string(e.newCA)
	e.mu.Unlock()
	if err := e.writeConfig(ctx); err != nil {
		return nil, err
	}
	return []string{"config's kubernetes_ca_cert written with the new CA only"}, nil
}

func (e *env) writeConfig(ctx context.Context) error {
	e.configMu.Lock()
	defer e.configMu.Unlock()
	return e.must(ctx, http.MethodPost, "auth/"+mount+"/config", e.configBody())
}
