#!/usr/bin/env bash
# Builds the real Kubernetes programs the real tier tests kinit against (kubeadm, the control plane, kubelet,
# kube-proxy, etcd 3.6, CoreDNS) from the Go module proxy, once per version, into a cache outside the checkout.
# The last line printed is the folder that holds every binary (links into the per-version folders).
#
#   KINIT_TOOLS_DIR      the cache (default ~/.cache/kinit-tools); Go's module and build caches live there too
#   KINIT_K8S_VERSION    a Kubernetes version, or a minor alone (`v1.33`: its newest patch); default v1.34
#
# A build that cannot be done fails with the module and the reason: the real tier is never skipped silently.
set -euo pipefail

tools=${KINIT_TOOLS_DIR:-$HOME/.cache/kinit-tools}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
export GOMODCACHE="$tools/go/mod" GOCACHE="$tools/go/build" GOPATH="$tools/go/path"
minor=34
if [[ ${KINIT_K8S_VERSION:-} =~ ^v1\.([0-9]+)$ ]]; then
  minor=${BASH_REMATCH[1]}
  KINIT_K8S_VERSION=""
fi

say() { echo "== test-tools: $*" >&2; }
die() { echo "test-tools: $*" >&2; exit 1; }

command -v go >/dev/null || die "no go on PATH: the real tier needs Go (1.24 or newer) to build Kubernetes, etcd and CoreDNS"

# The newest patch of the minor the proxy serves; without the proxy, the newest one already built.
k8s_version=${KINIT_K8S_VERSION:-}
if [ -z "$k8s_version" ]; then
  if listed=$(cd "$tools" && go list -m -versions "k8s.io/kubernetes" 2>&1); then
    k8s_version=$(tr ' ' '\n' <<<"$listed" | grep -E "^v1\.$minor\.[0-9]+$" | sort -t. -k3,3n | tail -n 1 || true)
  else
    k8s_version=$(find "$tools" -maxdepth 1 -name "kubernetes-v1.$minor.*" -printf '%f\n' 2>/dev/null |
      sed 's/^kubernetes-//' | sort -t. -k3,3n | tail -n 1)
    [ -n "$k8s_version" ] || die "module k8s.io/kubernetes: cannot list its versions from the Go module proxy: $listed"
    say "the Go module proxy did not answer; using the cached $k8s_version"
  fi
  [ -n "$k8s_version" ] || die "module k8s.io/kubernetes: the proxy serves no v1.$minor patch"
fi
[[ $k8s_version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "KINIT_K8S_VERSION=$k8s_version is not a vMAJOR.MINOR.PATCH version"
k8s_minor=${BASH_REMATCH[1]}
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

# module_dir MODULE@VERSION: the module's source folder, downloaded when needed.
module_dir() {
  local json
  json=$(cd "$tools" && go mod download -json "$1" 2>&1) || die "module $1: the Go module proxy refused it: $json"
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json"
}

# wrapper NAME GO_MOD_BODY: an empty module of our own that requires one product, tidied.
wrapper() {
  local dir="$tools/$1/src"
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '%s\n' "$2" >"$dir/go.mod"
  (cd "$dir" && go mod tidy >tidy.log 2>&1) || die "$1: go mod tidy failed: $(tail -n 20 "$dir/tidy.log")"
  echo "$dir"
}

# build NAME SRC_DIR LDFLAGS PACKAGE=BINARY...
build() {
  local name=$1 src=$2 ldflags=$3 pkg bin
  shift 3
  for spec in "$@"; do
    pkg=${spec%=*} bin=${spec#*=}
    say "building $bin ($pkg)"
    (cd "$src" && go build -trimpath -tags selinux,notest -ldflags "-s -w $ldflags" -o "$tools/$name/bin.new/$bin" "$pkg" \
      >"$tools/$name/build-$bin.log" 2>&1) ||
      die "$name: go build $pkg failed: $(tail -n 30 "$tools/$name/build-$bin.log")"
  done
}

# finish NAME: the binaries become visible only once all of them are built.
finish() {
  rm -rf "${tools:?}/${1:?}/bin"
  mv "$tools/$1/bin.new" "$tools/$1/bin"
}

have() { local d=$1; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }

# ---- Kubernetes ----------------------------------------------------------------------------------------------
k8s="kubernetes-$k8s_version"
k8s_bins=(kubeadm kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet)
k8s_src=""
if ! have "$tools/$k8s/bin" "${k8s_bins[@]}"; then
  started=$SECONDS
  say "building Kubernetes $k8s_version (the first build takes long: see the README)"
  k8s_src=$(module_dir "k8s.io/kubernetes@$k8s_version")
  # k8s.io/kubernetes replaces its staging modules with local folders, which a dependent module does not see:
  # replace each of them with the published staging version of the same patch.
  replaces=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\t\1 => \1 '"$staging_version"'#p' \
    "$k8s_src/go.mod")
  [ -n "$replaces" ] || die "module k8s.io/kubernetes@$k8s_version: its go.mod names no staging modules to replace"
  tool_lines=$(for b in "${k8s_bins[@]}"; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$b"; done)
  src=$(wrapper "$k8s" "module kinit.test/kubernetes-tools

go 1.24.0

godebug default=go1.24

require k8s.io/kubernetes $k8s_version

replace (
$replaces
)

tool (
$tool_lines
)")
  commit=$(sed -n 's/.*"Hash":"\([0-9a-f]\{40\}\)".*/\1/p' "$tools/go/mod/cache/download/k8s.io/kubernetes/@v/$k8s_version.info")
  [ -n "$commit" ] || commit=0000000000000000000000000000000000000000
  build_date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$tools/go/mod/cache/download/k8s.io/kubernetes/@v/$k8s_version.info")
  x=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor -X $p.gitTreeState=clean"
    x+=" -X $p.gitCommit=$commit -X $p.buildDate=${build_date:-1970-01-01T00:00:00Z}"
  done
  specs=()
  for b in "${k8s_bins[@]}"; do specs+=("k8s.io/kubernetes/cmd/$b=$b"); done
  build "$k8s" "$src" "$x" "${specs[@]}"
  finish "$k8s"
  say "Kubernetes $k8s_version built in $((SECONDS - started)) s"
fi

# The etcd and CoreDNS versions kubeadm of this minor pins, read from its own constants.
[ -n "$k8s_src" ] || k8s_src=$(module_dir "k8s.io/kubernetes@$k8s_version")
constants="$k8s_src/cmd/kubeadm/app/constants/constants.go"
etcd_version=$(sed -n 's/^[[:space:]]*DefaultEtcdVersion = "\([0-9.]*\)-[0-9]*"$/v\1/p' "$constants")
coredns_version=$(sed -n 's/^[[:space:]]*CoreDNSVersion = "\(v[0-9.]*\)"$/\1/p' "$constants")
if [ -z "$etcd_version" ] || [ -z "$coredns_version" ]; then
  die "module k8s.io/kubernetes@$k8s_version: cannot read DefaultEtcdVersion/CoreDNSVersion from $constants"
fi

# ---- etcd: its own modules carry replace lines, so it is built from a wrapper, not with go install ---------------
# etcd 3.5's etcdctl needs go.etcd.io/etcd/etcdutl/v3 of the same patch, which the proxy does not serve: for a 3.5
# etcd only the server is built, and the tests use the etcdctl of the newer minor (etcdctl 3.6 speaks to 3.5).
etcd="etcd-$etcd_version"
etcd_bins=(etcd etcdctl)
[[ $etcd_version == v3.5.* ]] && etcd_bins=(etcd)
if ! have "$tools/$etcd/bin" "${etcd_bins[@]}"; then
  started=$SECONDS
  requires=$'\tgo.etcd.io/etcd/server/v3 '"$etcd_version"
  tools_lines=$'\tgo.etcd.io/etcd/server/v3'
  specs=(go.etcd.io/etcd/server/v3=etcd)
  if [ "${#etcd_bins[@]}" = 2 ]; then
    requires+=$'\n\tgo.etcd.io/etcd/etcdctl/v3 '"$etcd_version"
    tools_lines+=$'\n\tgo.etcd.io/etcd/etcdctl/v3'
    specs+=(go.etcd.io/etcd/etcdctl/v3=etcdctl)
  fi
  src=$(wrapper "$etcd" "module kinit.test/etcd-tools

go 1.24.0

require (
$requires
)

tool (
$tools_lines
)")
  build "$etcd" "$src" "" "${specs[@]}"
  finish "$etcd"
  say "etcd $etcd_version built in $((SECONDS - started)) s"
fi

# ---- CoreDNS --------------------------------------------------------------------------------------------------
coredns="coredns-$coredns_version"
if ! have "$tools/$coredns/bin" coredns; then
  started=$SECONDS
  src=$(wrapper "$coredns" "module kinit.test/coredns-tools

go 1.24.0

require github.com/coredns/coredns $coredns_version

tool github.com/coredns/coredns")
  build "$coredns" "$src" "" github.com/coredns/coredns=coredns
  finish "$coredns"
  say "CoreDNS $coredns_version built in $((SECONDS - started)) s"
fi

# One folder with every binary, for the tests (KINIT_REAL_BIN).
all="$tools/bin-$k8s_version"
mkdir -p "$all"
for b in "${k8s_bins[@]}"; do ln -sfn "$tools/$k8s/bin/$b" "$all/$b"; done
for b in "${etcd_bins[@]}"; do ln -sfn "$tools/$etcd/bin/$b" "$all/$b"; done
ln -sfn "$tools/$coredns/bin/coredns" "$all/coredns"
printf '%s\n' "$k8s_version $etcd_version $coredns_version" >"$all/VERSIONS"
echo "$all"
