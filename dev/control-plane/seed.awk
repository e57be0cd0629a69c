# Seed data for ./dev/cluster seed N, as one multi-document YAML stream.
#   awk -v n=24 -v part=objects -f seed.awk   namespaces, RBAC example, Wukongs
# The lifecycle controller creates each Wukong's VirtualMachine and the KubeVirt simulator runs it;
# `part=status` (a static status, for a cluster without them) is kept for reference.
# vm-000..vm-(N-1) go round-robin to team-a, team-b, ml-lab. runStrategy cycles Manual, Always,
# RerunOnFailure, Halted; autoStart is true for Always, false for Halted and alternates for the
# others. Always and RerunOnFailure VMs start on creation (KubeVirt), Manual ones when autoStart is
# true; Halted ones stay stopped.
BEGIN {
  split("team-a team-b ml-lab", ns, " ")
  split("Manual Always RerunOnFailure Halted", strategies, " ")
  split("1 2 4 8", cpus, " ")
  split("1Gi 2Gi 4Gi 8Gi 16Gi", mems, " ")
  split("quay.io/containerdisks/fedora:42 quay.io/containerdisks/ubuntu:24.04 " \
        "quay.io/containerdisks/centos-stream:9 quay.io/kubevirt/cirros-container-disk-demo:v1.6.0", images, " ")
  label = "    app.kubernetes.io/managed-by: wukong-dev-seed"
  if (part == "objects") preamble()
  for (i = 0; i < n; i++) {
    name = sprintf("vm-%03d", i)
    namespace = ns[i % 3 + 1]
    rs = strategies[i % 4 + 1]
    auto = rs == "Always" ? "true" : rs == "Halted" ? "false" : (int(i / 4) % 2 == 0 ? "true" : "false")
    running = rs != "Halted" && auto == "true"
    if (part == "objects") objects(); else status()
  }
}

function header(apiVersion, kind) {
  print "---"
  print "apiVersion: " apiVersion
  print "kind: " kind
  print "metadata:"
  print "  name: " name
  print "  namespace: " namespace
}

function objects(  cpu, mem, image) {
  cpu = cpus[i % 4 + 1]; mem = mems[i % 5 + 1]; image = images[i % 4 + 1]
  header("vm.novasphere.dev/v1alpha1", "Wukong")
  print "  labels:"; print label
  print "spec:"
  print "  cpuCores: " cpu
  print "  memory: " mem
  print "  image: " image
  print "  runStrategy: " rs
  print "  startStrategy:"
  print "    autoStart: " auto
}

function status() {
  header("vm.novasphere.dev/v1alpha1", "Wukong")
  print "status:"
  print "  lifecycleState:"
  print "    state: " (running ? "Running" : "Stopped")
  print "  runStrategy: " rs
  header("kubevirt.io/v1", "VirtualMachine")
  print "status:"
  print "  printableStatus: " (running ? "Running" : "Stopped")
  print "  ready: " (running ? "true" : "false")
  print "  created: " (running ? "true" : "false")
  print "  runStrategy: " rs
}

# Namespaces, and an RBAC example for the dev-user identity (group wukong-devs, context
# wukong-dev-user in .dev/kubeconfig): edit in team-a, read-only in team-b, nothing in ml-lab.
function preamble(  k) {
  for (k = 1; k <= 3; k++) {
    print "---"
    print "apiVersion: v1"
    print "kind: Namespace"
    print "metadata:"
    print "  name: " ns[k]
    print "  labels:"; print label
  }
  print "---"
  print "apiVersion: rbac.authorization.k8s.io/v1"
  print "kind: ClusterRole"
  print "metadata:"
  print "  name: wukong-dev-editor"
  print "  labels:"; print label
  print "rules:"
  print "- apiGroups: [vm.novasphere.dev]"
  print "  resources: [wukongs]"
  print "  verbs: [get, list, watch, create, update, patch, delete]"
  print "- apiGroups: [vm.novasphere.dev]"
  print "  resources: [wukongs/status]"
  print "  verbs: [get]"
  print "- apiGroups: [kubevirt.io]"
  print "  resources: [virtualmachines, virtualmachineinstances]"
  print "  verbs: [get, list, watch]"
  print "- apiGroups: [subresources.kubevirt.io]"
  print "  resources: [virtualmachines/start, virtualmachines/stop, virtualmachines/restart, virtualmachineinstances/pause, virtualmachineinstances/unpause]"
  print "  verbs: [update]"
  print "---"
  print "apiVersion: rbac.authorization.k8s.io/v1"
  print "kind: ClusterRole"
  print "metadata:"
  print "  name: wukong-dev-viewer"
  print "  labels:"; print label
  print "rules:"
  print "- apiGroups: [vm.novasphere.dev]"
  print "  resources: [wukongs, wukongs/status]"
  print "  verbs: [get, list, watch]"
  print "- apiGroups: [kubevirt.io]"
  print "  resources: [virtualmachines, virtualmachineinstances]"
  print "  verbs: [get, list, watch]"
  binding("team-a", "wukong-dev-editor")
  binding("team-b", "wukong-dev-viewer")
}

function binding(namespace, role) {
  print "---"
  print "apiVersion: rbac.authorization.k8s.io/v1"
  print "kind: RoleBinding"
  print "metadata:"
  print "  name: wukong-devs"
  print "  namespace: " namespace
  print "  labels:"; print label
  print "roleRef:"
  print "  apiGroup: rbac.authorization.k8s.io"
  print "  kind: ClusterRole"
  print "  name: " role
  print "subjects:"
  print "- apiGroup: rbac.authorization.k8s.io"
  print "  kind: Group"
  print "  name: wukong-devs"
}
