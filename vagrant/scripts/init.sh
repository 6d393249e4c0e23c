#!/usr/bin/env bash
# The first control plane: `kinit init -o json` with the config plan.rb rendered, the join material
# from its result into the shared folder for the other nodes, its phase timings, then the CNI.
#   init.sh NODE_NAME UPLOAD_CERTS(true|false) IP_PREFIX CNI_MANIFEST
set -euo pipefail
name=$1 upload_certs=$2 ip_prefix=$3 cni_manifest=$4
run=/vagrant/run
log="$run/$name-init.jsonl"

# The control plane runs the installed kubelet's exact version: a kubelet newer than its API server is
# not supported, and the newest patch of the minor is only known once the package is installed.
version=$(kubelet --version | awk '{print $2}')
install -d /etc/kinit
sed "s/^kubernetesVersion: .*/kubernetesVersion: $version/" "$run/kinit-config.yaml" >/etc/kinit/config.yaml

flags=(--config /etc/kinit/config.yaml -o json)
if [ "$upload_certs" = true ]; then flags+=(--upload-certs); fi
# A join.json of an earlier run must not send the other nodes to a cluster that is gone.
rm -f "$run/join.json"
status=0
kinit init "${flags[@]}" | tee "$log" || status=$?
# The timings are kept also when init failed: they say which phase did and how long it took.
jq -c --arg node "$name" 'select(.event == "result")
  | {node: $node, role: "controlplane", command, outcome, totalMs, phases}' "$log" >"$run/timings/$name.json"
if [ "$status" != 0 ]; then exit "$status"; fi
# Written whole, then renamed: a waiting node never reads half a file.
jq 'select(.event == "result") | .join' "$log" >"$run/join.json.tmp"
mv "$run/join.json.tmp" "$run/join.json"

export KUBECONFIG=/etc/kubernetes/admin.conf
install -d -o vagrant -g vagrant /home/vagrant/.kube
install -m 0600 -o vagrant -g vagrant "$KUBECONFIG" /home/vagrant/.kube/config

# flannel picks the default route's interface, which is Vagrant's NAT on every VM: it must pick the
# address on the private network instead (--iface-regex also matches interface addresses).
kubectl apply -f "$cni_manifest"
regex="^${ip_prefix//./[.]}[.]"
kubectl -n kube-flannel patch daemonset kube-flannel-ds --type json \
  -p "[{\"op\": \"add\", \"path\": \"/spec/template/spec/containers/0/args/-\", \"value\": \"--iface-regex=$regex\"}]"
