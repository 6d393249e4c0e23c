#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for the given seconds each (default 60) with cargo fuzz
# (libFuzzer, nightly), then prints a table: target, runs, coverage, crashes.
#
#   scripts/fuzz.sh [seconds] [target...]
#
# Each target starts from fuzz/seeds/<target> (and, for config, ../shared/compat/kubeadm-configs
# when present) and grows fuzz/corpus/<target>, minimized at the end (cargo fuzz cmin) so that it
# stays small enough to commit; tests/fuzz_corpora.rs replays it with every test run. An input
# that crashes, runs over 1 s or takes over 2 GB is left in fuzz/artifacts/<target>/: fix the bug
# and copy the input to fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config patches kubeconfig cluster_info flags pem etcd_answers api_answers)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

cd fuzz
cargo +nightly fuzz build
rows=()
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus" "artifacts/$target"
  seeds=("seeds/$target")
  if [ "$target" = config ] && [ -d ../../shared/compat/kubeadm-configs ]; then
    seeds+=(../../shared/compat/kubeadm-configs)
  fi
  log="artifacts/$target/fuzz.log"
  status=0
  cargo +nightly fuzz run "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo "?")
  crashes=$(find "artifacts/$target" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    echo "the fuzzer of $target stopped ($status) without leaving an input:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  # Keep only the inputs that add coverage.
  cargo +nightly fuzz cmin "$target" "$corpus" >/dev/null 2>&1
  rows+=("$target $runs $cov $crashes")
done

printf '%-14s %12s %10s %8s\n' target runs coverage crashes
for row in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-14s %12s %10s %8s\n' $row
done
