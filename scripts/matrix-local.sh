#!/usr/bin/env bash
# The local matrix: for each configuration variant (ECDSA-P256, RSA-2048, custom CIDRs and DNS
# domain, an IPv6 advertise address, external etcd, a file of ../shared/compat/kubeadm-configs),
# `kinit init` on a control-plane host and `kinit join` on a worker host, each a network namespace
# with its own root, then `kinit reset -f` on both (tests/matrix_local.rs does the work).
# Prints a table and a JSON summary with kinit's phase timings, and writes the summary to
# $KINIT_MATRIX_JSON (default: <cargo target dir>/matrix-local.json).
# Runs the variants on the test API server and, those of the built Kubernetes minor, on the real
# control plane too. Usage: sudo scripts/matrix-local.sh [VARIANT-SUBSTRING ...]   (no argument: every variant)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "matrix-local.sh needs root (network namespaces)" >&2
  exit 1
fi
# What the tests need (.venv, the real programs, Debian's packages), installed when missing.
# shellcheck source=scripts/test-deps.sh
source scripts/test-deps.sh

target="${CARGO_TARGET_DIR:-target}"
export KINIT_MATRIX_JSON="${KINIT_MATRIX_JSON:-$target/matrix-local.json}"
case "$KINIT_MATRIX_JSON" in
  /*) ;;
  *) KINIT_MATRIX_JSON="$PWD/$KINIT_MATRIX_JSON" ;;
esac
filter=""
if [ "$#" -gt 0 ]; then
  filter="$(IFS=,; echo "$*")"
fi
export KINIT_MATRIX_FILTER="$filter"

cargo test --test matrix_local -- --nocapture
