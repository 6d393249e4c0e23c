#!/usr/bin/env bash
# The release binary's size and the peak memory of a whole `kinit init --dry-run`, against the
# targets of the release (under 15 MB on disk, under 30 MB resident). Builds with the release
# profile first; needs GNU time (/usr/bin/time, Debian's `time` package).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet
binary="$target_dir/release/kinit"
size=$(stat -c %s "$binary")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# RSA-2048 is the default and the costlier key type; the root keeps the dry run off this host's files.
peak_kb=$( { /usr/bin/time -f '%M' "$binary" init --dry-run --rootfs "$root" --node-name node1 \
    --apiserver-advertise-address 10.0.0.10 >/dev/null; } 2>&1 | tail -n 1)
awk -v size="$size" -v peak="$peak_kb" 'BEGIN {
  printf "release binary   %6.1f MB   target < 15 MB\n", size / 1048576
  printf "init --dry-run   %6.1f MB   target < 30 MB peak resident\n", peak / 1024
}'
