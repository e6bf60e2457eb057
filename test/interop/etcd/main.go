// Command etcd is the real etcd server (go.etcd.io/etcd/server/v3, pinned in
// go.mod), built here because the module proxy serves etcd as a library only.
// The Kubernetes interop suites start it as kube-apiserver's storage.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
