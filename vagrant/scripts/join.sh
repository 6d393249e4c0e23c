#!/usr/bin/env bash
# Every other node: waits for the first control plane's join material in the shared folder, then
# `kinit join -o json` as a worker or (with the uploaded certificates' key) a control plane.
#   join.sh NODE_NAME NODE_IP controlplane|worker
set -euo pipefail
name=$1 ip=$2 role=$3
run=/vagrant/run
log="$run/$name-join.jsonl"

# Machines usually come up one after another, but a provider may start them in parallel.
for _ in $(seq 180); do [ -s "$run/join.json" ] && break; sleep 10; done
[ -s "$run/join.json" ] || { echo "no $run/join.json after 30 minutes: did init fail?" >&2; exit 1; }

field() { jq -er "$1" "$run/join.json"; }
flags=("$(field .endpoint)" --token "$(field .token)" --discovery-token-ca-cert-hash "$(field '.caCertHashes[0]')"
  --node-name "$name" --cri-socket unix:///run/containerd/containerd.sock -o json)
if [ "$role" = controlplane ]; then
  flags+=(--control-plane --certificate-key "$(field .certificateKey)" --apiserver-advertise-address "$ip")
fi
status=0
kinit join "${flags[@]}" | tee "$log" || status=$?
# The timings are kept also when the join failed: they say which phase did and how long it took.
jq -c --arg node "$name" --arg role "$role" 'select(.event == "result")
  | {node: $node, role: $role, command, outcome, totalMs, phases}' "$log" >"$run/timings/$name.json"
exit "$status"
