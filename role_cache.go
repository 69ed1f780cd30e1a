package kubeauth

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
)

// roleCache keeps decoded roles for the login path. Run as an external
// plugin, every storage read is a gRPC round trip back to Vault; roles
// change rarely and only through this backend's own writes or, on other
// nodes, through Invalidate, so a login need not pay that trip.
//
// Cached entries are shared and must not be modified; role writes load
// their own copy from storage.
type roleCache struct {
	mu sync.Mutex
	// roles holds roles that exist. Missing roles are not remembered: the
	// login path is unauthenticated, and a stream of made-up names must not
	// grow the cache.
	roles map[string]*roleEntry
	// generation moves on every change, so that a read from storage that
	// raced with a write does not put the older role back into the cache.
	generation uint64
}

func newRoleCache() *roleCache {
	return &roleCache{roles: map[string]*roleEntry{}}
}

// get returns the role, reading storage only on a miss.
func (c *roleCache) get(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	name = strings.ToLower(name)
	c.mu.Lock()
	r, ok := c.roles[name]
	gen := c.generation
	c.mu.Unlock()
	if ok {
		return r, nil
	}

	r, err := loadRole(ctx, s, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r != nil && c.generation == gen {
		c.roles[name] = r
	}
	return r, nil
}

// forget drops one role, after it was written or deleted here or elsewhere.
func (c *roleCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	delete(c.roles, strings.ToLower(name))
}

// reset drops every role.
func (c *roleCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	clear(c.roles)
}
