package kubeauth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/kubeauth/vault-plugin-auth-kubernetes/internal/satoken"
)

// A mount serves the cluster its config describes, named defaultCluster,
// and any number of named clusters stored at cluster/<name>, each with the
// same fields as config. Each cluster has its own derived state (client,
// caches, keys), built lazily and replaced on its own.
const (
	defaultCluster = "default"
	clusterPrefix  = "cluster/"
	// maxClusterNameLen keeps a name usable as a metrics label value and in
	// an alias name.
	maxClusterNameLen = 63
)

// clusterStorageKey is where a cluster's config is stored: config for the
// default cluster, as Vault's built-in method stores it.
func clusterStorageKey(name string) string {
	if name == defaultCluster {
		return configPath
	}
	return clusterPrefix + name
}

// validateClusterName accepts what a cluster may be called: lower-case
// letters, digits and '-', starting and ending with a letter or digit (a
// DNS label, so it reads well in metadata, alias names and metrics).
func validateClusterName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name: is required")
	case name == defaultCluster:
		return fmt.Errorf("name: %q is the cluster config describes; write config instead", name)
	case len(name) > maxClusterNameLen:
		return fmt.Errorf("name: %q is longer than %d characters", name, maxClusterNameLen)
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		edge := i == 0 || i == len(name)-1
		if !alnum && (r != '-' || edge) {
			return fmt.Errorf("name: %q must be lower-case letters, digits and '-', starting and ending with a letter or digit", name)
		}
	}
	return nil
}

// loadClusterConfig reads a cluster's stored config; nil when it has none.
func loadClusterConfig(ctx context.Context, s logical.Storage, name string) (*clusterConfig, error) {
	key := clusterStorageKey(name)
	entry, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	if entry == nil {
		return nil, nil
	}
	cfg := &clusterConfig{}
	if err := entry.DecodeJSON(cfg); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	return cfg, nil
}

func loadConfig(ctx context.Context, s logical.Storage) (*clusterConfig, error) {
	return loadClusterConfig(ctx, s, defaultCluster)
}

// stateSlot is one cluster's derived state. generation counts its changes
// so that a lazy load that raced with a write or an invalidation does not
// install a stale state. Slots are never removed, so a generation never
// goes back.
type stateSlot struct {
	state      *liveCluster
	generation uint64
}

// replace installs s (nil: rebuild on next use) and closes the old state
// once the requests using it are done. The caller holds b.mu.
func (slot *stateSlot) replace(s *liveCluster) {
	slot.generation++
	if slot.state != nil {
		slot.state.close()
	}
	slot.state = s
}

// slotLocked is the named cluster's slot, made on first use. The caller
// holds b.mu for writing.
func (b *backend) slotLocked(name string) *stateSlot {
	slot := b.slots[name]
	if slot == nil {
		slot = &stateSlot{}
		b.slots[name] = slot
	}
	return slot
}

// resetState drops everything derived from a cluster's config; the next
// use rebuilds it from storage.
func (b *backend) resetState(name string) { b.installState(name, nil) }

// installState replaces a cluster's derived state.
func (b *backend) installState(name string, s *liveCluster) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.slotLocked(name).replace(s)
}

// liveCluster returns a cluster's derived state, building it from storage
// on first use and again when the pod's CA file it trusts has changed. It
// returns (nil, nil) when the cluster has no config. The caller must
// release a non-nil state when its request is done with it.
func (b *backend) liveCluster(ctx context.Context, s logical.Storage, name string) (*liveCluster, error) {
	b.mu.RLock()
	var st *liveCluster
	var gen uint64
	if slot := b.slots[name]; slot != nil {
		st, gen = slot.state, slot.generation
	}
	if st != nil {
		st.kube.Acquire()
	}
	b.mu.RUnlock()

	var cfg *clusterConfig
	if st != nil {
		if !usesPodCA(st.config) || !b.localFiles.caChanged(st.podCA) {
			return st, nil
		}
		// The pod's CA was rotated: rebuild the client from the same
		// config, trusting the new file.
		cfg = st.config
		st.release()
	} else {
		var err error
		cfg, err = loadClusterConfig(ctx, s, name)
		if err != nil || cfg == nil {
			return nil, err
		}
	}
	fresh, err := b.buildState(name, cfg, satoken.Stored)
	if err != nil {
		return nil, fmt.Errorf("the stored config of %s is unusable: %w", clusterStorageKey(name), err)
	}
	return b.adoptState(name, fresh, gen), nil
}

// adoptState installs st, built from what was current at generation gen,
// unless the cluster's config changed since: then it uses the newer state,
// or, when there is none, serves this one request with st, which closes on
// release.
func (b *backend) adoptState(name string, st *liveCluster, gen uint64) *liveCluster {
	st.kube.Acquire()
	b.mu.Lock()
	defer b.mu.Unlock()
	slot := b.slotLocked(name)
	switch {
	case slot.generation == gen:
		slot.replace(st)
		return st
	case slot.state != nil:
		// Installed by a config write or a concurrent login meanwhile:
		// share it, so connections are shared too.
		cur := slot.state
		cur.kube.Acquire()
		st.close()
		st.release()
		return cur
	default:
		// Invalidated while we read storage; what we read may be stale, so
		// do not keep it.
		st.close()
		return st
	}
}

// clusterNames are the named clusters, sorted, listed from storage once and
// kept until a cluster is written or deleted. Logins call it, so on a mount
// without named clusters it costs a read lock after the first call.
func (b *backend) clusterNames(ctx context.Context, s logical.Storage) ([]string, error) {
	b.mu.RLock()
	names, loaded, gen := b.names, b.namesLoaded, b.namesGen
	b.mu.RUnlock()
	if loaded {
		return names, nil
	}
	listed, err := s.List(ctx, clusterPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	// List also returns "folders"; a cluster name has no slash.
	listed = slices.DeleteFunc(listed, func(n string) bool { return strings.Contains(n, "/") })
	slices.Sort(listed)
	b.mu.Lock()
	if b.namesGen == gen {
		b.names, b.namesLoaded = listed, true
	}
	b.mu.Unlock()
	return listed, nil
}

// forgetClusterNames makes the next clusterNames list storage again.
func (b *backend) forgetClusterNames() {
	b.mu.Lock()
	b.names, b.namesLoaded = nil, false
	b.namesGen++
	b.mu.Unlock()
}

// clusterRef is one configured cluster as a login sees it: its state, or
// why none could be built.
type clusterRef struct {
	name  string
	state *liveCluster
	err   error
	// wait bounds a login's wait for the cluster when choosing its
	// cluster (the backend's clusterWait; see cluster_select.go).
	wait time.Duration
}

// mountClusters are the clusters a login may belong to: the default one
// when config is written, then the named ones. A named cluster whose
// stored config cannot be used is returned with its error, so it fails its
// own logins and no other's. With only the default cluster, its error is
// the login's, as it always was. The caller releases the states.
func (b *backend) mountClusters(ctx context.Context, s logical.Storage) ([]clusterRef, error) {
	names, err := b.clusterNames(ctx, s)
	if err != nil {
		return nil, err
	}
	def, err := b.liveCluster(ctx, s, defaultCluster)
	if len(names) == 0 {
		if err != nil || def == nil {
			return nil, err
		}
		return []clusterRef{{name: defaultCluster, state: def}}, nil
	}
	refs := make([]clusterRef, 0, len(names)+1)
	if def != nil || err != nil {
		refs = append(refs, clusterRef{name: defaultCluster, state: def, err: err, wait: b.clusterWait})
	}
	for _, n := range names {
		st, err := b.liveCluster(ctx, s, n)
		if st == nil && err == nil {
			continue // deleted since the listing
		}
		refs = append(refs, clusterRef{name: n, state: st, err: err, wait: b.clusterWait})
	}
	return refs, nil
}

// releaseClusters ends a request's use of the states in refs.
func releaseClusters(refs []clusterRef) {
	for _, r := range refs {
		if r.state != nil {
			r.state.release()
		}
	}
}
