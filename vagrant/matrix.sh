#!/usr/bin/env bash
# Runs the Vagrant matrix: every entry of matrix.yaml, or those starting with a filter
# (./matrix.sh ubuntu-24.04:single, ./matrix.sh debian-12:ha:ecdsa:1.34). Per entry: vagrant up (which
# inits and joins), the acceptance on the first control plane, kinit reset and the preflight again on every
# node, vagrant destroy (also on failure). Then a table and a JSON summary with kinit's phase timings,
# also written to results/summary.json.
set -euo pipefail
cd "$(dirname "$0")"
filter=${1:-}
# Where the VMs' shared files and the results go; tests/vagrant_matrix.rs points both elsewhere.
run=${KINIT_RUN_DIR:-run}
results=${KINIT_RESULTS_DIR:-results}
export KINIT_BIN=${KINIT_BIN:-$PWD/../target/release/kinit}
[ -x "$KINIT_BIN" ] || { echo "no kinit binary at $KINIT_BIN: run cargo build --release, or set KINIT_BIN" >&2; exit 1; }
for tool in vagrant ruby; do
  command -v "$tool" >/dev/null || { echo "matrix.sh needs $tool" >&2; exit 1; }
done

entries=()
while read -r entry; do
  if [[ $entry == "$filter"* ]]; then entries+=("$entry"); fi
done < <(ruby plan.rb --list)
[ "${#entries[@]}" -gt 0 ] || { echo "no entry starts with '$filter'; see ruby plan.rb --list" >&2; exit 1; }

rm -rf "$results"
mkdir -p "$results"
# An interrupted or failed entry must not leave its VMs running (they hold the private addresses).
trap 'vagrant destroy -f >/dev/null 2>&1 || true' EXIT

# vagrant ssh as root on one machine; its output goes to the entry's log too.
on() { local vm=$1; shift; vagrant ssh "$vm" -c "sudo $*" </dev/null; }

run_entry() {
  local entry=$1 primary nodes=() name role
  # Each step must succeed: every command is checked, since `set -e` does not apply inside a condition.
  vagrant up || return 1
  while read -r name role _; do
    if [ "$role" = loadbalancer ]; then continue; fi
    nodes+=("$name")
    if [ -z "${primary:-}" ]; then primary=$name; fi
  done < <(ruby plan.rb "$entry" --machines)
  on "$primary" bash /vagrant/scripts/accept.sh "${nodes[@]}" || return 1
  # Workers first, the first control plane last: reset of a control plane removes its etcd member.
  for ((i = ${#nodes[@]} - 1; i >= 0; i--)); do
    on "${nodes[i]}" bash /vagrant/scripts/reset.sh || return 1
  done
}

for entry in "${entries[@]}"; do
  IFS=: read -r KINIT_BOX KINIT_TOPOLOGY KINIT_KEY KINIT_MINOR <<<"$entry"
  export KINIT_BOX KINIT_TOPOLOGY KINIT_KEY KINIT_MINOR
  out="$results/${entry//:/_}"
  mkdir -p "$out"
  rm -rf "$run"
  echo "== $entry"
  result=fail
  if run_entry "$entry" > >(tee "$out/log.txt") 2>&1; then result=pass; fi
  # Timings of whatever ran, also when a later step failed.
  cp "$run"/timings/*.json "$out/" 2>/dev/null || true
  echo "{\"entry\": \"$entry\", \"result\": \"$result\"}" >"$out/entry.json"
  echo "== $entry: $result"
  vagrant destroy -f || true
done

ruby summary.rb "$results" | tee "$results/summary.txt"
ruby summary.rb --json "$results" >"$results/summary.json"
cat "$results/summary.json"
# The exit status says whether every entry passed.
if grep -q '"result": "fail"' "$results"/*/entry.json; then exit 1; fi
