// Command etcd is the etcd server built from go.etcd.io/etcd/server/v3 at
// the version pinned in go.mod. etcd's own main module (go.etcd.io/etcd/v3)
// replaces its sibling modules with local paths, so it cannot be built from
// the module proxy; etcdmain is the package its main calls.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
