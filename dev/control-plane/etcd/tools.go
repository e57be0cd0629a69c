//go:build tools

// Wrapper module for building etcd from go.etcd.io/etcd/server/v3 (whose own go.mod
// has replace lines, so `go install pkg@version` is refused). dev/cluster copies this
// file into a scratch module, requires the pinned version, runs `go mod tidy` and builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
