//go:build tools

// Wrapper module for building kube-apiserver and kubectl from k8s.io/kubernetes.
// dev/cluster copies this file into a scratch module, generates go.mod (require
// k8s.io/kubernetes at the pinned version, plus one replace per staging module,
// derived from k8s.io/kubernetes' own go.mod), runs `go mod tidy` and builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
