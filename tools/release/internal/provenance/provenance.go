// Package provenance writes and reads the release's build provenance: an
// in-toto statement (https://in-toto.io/Statement/v1) whose predicate is
// SLSA provenance v1 (https://slsa.dev/provenance/v1), naming the source
// commit and whether the tree was clean, the Go toolchain, each binary's
// build settings as the binary records them, and the SHA-256 of every
// artifact. It carries no times, so the same build writes the same bytes.
package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

const (
	// StatementType is the in-toto statement's _type.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType is SLSA provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names this project's release build; its parameters are
	// described in docs/install.md.
	BuildType = "https://github.com/kubeauth/vault-plugin-auth-kubernetes/blob/main/docs/install.md#provenance"
	// BuilderID is `make release` of this repository.
	BuilderID = "https://github.com/kubeauth/vault-plugin-auth-kubernetes/tree/main/tools/release#make-release"
	// SourceURI is the repository the release is built from.
	SourceURI = "git+https://github.com/kubeauth/vault-plugin-auth-kubernetes"
)

// Statement is an in-toto statement with a SLSA provenance predicate.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject is one artifact and its digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Predicate is SLSA provenance v1.
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was built from what.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// ExternalParameters are what the person running the release chose.
type ExternalParameters struct {
	Version   string   `json:"version"`
	Platforms []string `json:"platforms"`
	Signed    bool     `json:"signed"`
	// FIPSModule is the Go FIPS 140-3 module (GOFIPS140) the platforms were
	// built with again, as <os>_<arch>_fips; empty without FIPS builds.
	FIPSModule string `json:"fipsModule,omitempty"`
}

// InternalParameters are what the build itself fixed: the toolchain, and
// per binary the settings Go recorded in it (flags, GOOS, GOARCH,
// CGO_ENABLED, the architecture level).
type InternalParameters struct {
	GoVersion string                       `json:"goVersion"`
	Builds    map[string]map[string]string `json:"builds"`
}

// ResourceDescriptor is an input of the build: the source tree.
type ResourceDescriptor struct {
	URI         string            `json:"uri"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

// RunDetails names the builder.
type RunDetails struct {
	Builder Builder `json:"builder"`
}

// Builder is who ran the build.
type Builder struct {
	ID string `json:"id"`
}

// Source is the tree the release was built from.
type Source struct {
	Commit string // empty when the tree is not a git checkout
	Clean  bool   // no change to a tracked file and no untracked file
}

// New is the statement for a release. subjects maps artifact names to
// their SHA-256 in hex.
func New(subjects map[string]string, src Source, ext ExternalParameters, in InternalParameters) Statement {
	names := make([]string, 0, len(subjects))
	for n := range subjects {
		names = append(names, n)
	}
	sort.Strings(names)
	st := Statement{Type: StatementType, PredicateType: PredicateType}
	for _, n := range names {
		st.Subject = append(st.Subject, Subject{Name: n, Digest: map[string]string{"sha256": subjects[n]}})
	}
	dep := ResourceDescriptor{URI: SourceURI, Annotations: map[string]any{"treeClean": src.Clean}}
	if src.Commit != "" {
		dep.Digest = map[string]string{"gitCommit": src.Commit}
	} else {
		dep.Annotations["note"] = "not built from a git checkout: the commit is unknown"
	}
	st.Predicate = Predicate{
		BuildDefinition: BuildDefinition{
			BuildType: BuildType, ExternalParameters: ext, InternalParameters: in,
			ResolvedDependencies: []ResourceDescriptor{dep},
		},
		RunDetails: RunDetails{Builder: Builder{ID: BuilderID}},
	}
	return st
}

// Encode is the statement as indented JSON, ending in a newline.
func Encode(st Statement) ([]byte, error) {
	raw, err := json.MarshalIndent(st, "", "  ")
	return append(raw, '\n'), err
}

// Parse reads a statement and holds it to its types: an in-toto v1
// statement with a SLSA v1 predicate, every subject with a SHA-256.
func Parse(raw []byte) (Statement, error) {
	var st Statement
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("not JSON: %w", err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		return st, fmt.Errorf("a %q statement of %q, want %s of %s", st.Type, st.PredicateType, StatementType, PredicateType)
	}
	if len(st.Subject) == 0 {
		return st, errors.New("names no artifact")
	}
	for _, s := range st.Subject {
		if s.Name == "" || len(s.Digest["sha256"]) != 64 {
			return st, fmt.Errorf("subject %q has no SHA-256", s.Name)
		}
	}
	return st, nil
}
