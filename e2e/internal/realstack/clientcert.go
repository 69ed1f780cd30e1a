package realstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IssueClientCert issues a client certificate for the user name in the
// groups from the stack apiserver's client CA (its --client-ca-file, whose
// key stack-up.sh keeps beside it as ca.key): the stack's API server
// authenticates it as that user, bound to whatever RBAC binds the name.
func (s *Stack) IssueClientCert(user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	caFile, ok := FlagValue(s.APIServerArgv, "--client-ca-file")
	if !ok {
		return nil, nil, errors.New("the stack apiserver has no --client-ca-file")
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, err
	}
	keyFile := filepath.Join(filepath.Dir(caFile), strings.TrimSuffix(filepath.Base(caFile), ".crt")+".key")
	caKey, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("the client CA's key: %w", err)
	}
	return IssueClientCert(caPEM, caKey, user, groups...)
}
