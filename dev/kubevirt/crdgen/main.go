// crdgen prints KubeVirt v1.8.0's VirtualMachine or VirtualMachineInstance CRD as virt-operator
// installs it: the object comes from the same constructors virt-operator's install strategy calls
// (components.NewVirtualMachineCrd / NewVirtualMachineInstanceCrd, which attach the openAPI
// validation of components/validations_generated.go), rendered as YAML without status and
// metadata.creationTimestamp, as KubeVirt's tools/util.MarshallObject does, but without its textual
// quote fix-ups, which break descriptions such as 'DataVolumeContentType options: "kubevirt",
// "archive"' (they drop the closing quote).
// Left out: the labels and annotations virt-operator adds at install time from its KubeVirt CR
// (install-strategy version, registry and id, managed-by), which name a particular installation.
//
//	crdgen virtualmachines|virtualmachineinstances > deploy/kubevirt/NAME.yaml
//
// ./dev/cluster gen-kubevirt-crds writes both files; ./dev/test fails when they drift.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
)

// toYAML: the object without status and metadata.creationTimestamp (both empty here).
func toYAML(crd *extv1.CustomResourceDefinition) ([]byte, error) {
	j, err := json.Marshal(crd)
	if err != nil {
		return nil, err
	}
	var obj map[string]interface{}
	if err := json.Unmarshal(j, &obj); err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(obj, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(obj, "status")
	return yaml.Marshal(obj)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdgen virtualmachines|virtualmachineinstances")
		os.Exit(2)
	}
	var newCrd func() (*extv1.CustomResourceDefinition, error)
	switch os.Args[1] {
	case "virtualmachines":
		newCrd = components.NewVirtualMachineCrd
	case "virtualmachineinstances":
		newCrd = components.NewVirtualMachineInstanceCrd
	default:
		fmt.Fprintf(os.Stderr, "crdgen: unknown CRD %q (virtualmachines or virtualmachineinstances)\n", os.Args[1])
		os.Exit(2)
	}
	crd, err := newCrd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "crdgen: %v\n", err)
		os.Exit(1)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# KubeVirt v1.8.0's %s CRD as virt-operator installs it (spec and the kubevirt.io label;\n", crd.Spec.Names.Kind)
	fmt.Fprintln(&out, "# not the install-time labels/annotations virt-operator adds from its KubeVirt CR).")
	fmt.Fprintln(&out, "# Generated, do not edit: ./dev/cluster gen-kubevirt-crds")
	fmt.Fprintf(&out, "# (dev/kubevirt/crdgen %s: kubevirt.io/kubevirt v1.8.0's\n", os.Args[1])
	fmt.Fprintf(&out, "# pkg/virt-operator/resource/generate/components.New%sCrd, as YAML).\n", crd.Spec.Names.Kind)
	fmt.Fprintln(&out, "# Used by ./dev/cluster on the local control plane; on a real cluster KubeVirt installs its own.")
	y, err := toYAML(crd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "crdgen: %v\n", err)
		os.Exit(1)
	}
	out.Write(y)
	if _, err := os.Stdout.Write(out.Bytes()); err != nil {
		os.Exit(1)
	}
}
