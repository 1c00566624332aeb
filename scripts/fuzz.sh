#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, one after another, starting from
# the committed seed corpus, and prints the executions per target.
#
#   scripts/fuzz.sh [seconds per target]     (default 60)
#   scripts/fuzz.sh --build-only             (install cargo-fuzz and build the targets; .ci/run
#                                             builds them while the tests run)
#
# New corpus entries go to fuzz/target/corpus-work/<target>/ (ignored by git); the committed
# seeds in fuzz/corpus/<target>/ are only read. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit 1 after the remaining targets ran: turn
# every crash into a regression test in the normal test suite.
#
# The fuzz build needs nightly flags (sanitizers, coverage); on a stable toolchain
# RUSTC_BOOTSTRAP=1 allows them.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
  --build-only) ;;
  '' | *[!0-9]*) echo "usage: $0 [seconds per target | --build-only]" >&2; exit 2 ;;
esac

# Pinned: a fresh machine gets the same cargo-fuzz every time.
CARGO_FUZZ_VERSION="0.13.2"
if ! cargo fuzz --version 2>/dev/null | grep -q " ${CARGO_FUZZ_VERSION}\b"; then
  echo "==> installing cargo-fuzz ${CARGO_FUZZ_VERSION}"
  # `--debug`: builds in a fraction of the release build's time; the tool only drives cargo.
  cargo install cargo-fuzz --version "${CARGO_FUZZ_VERSION}" --locked --debug
fi

export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
echo "==> building fuzz targets: $(echo "$targets" | tr '\n' ' ')"
cargo fuzz build
if [ "$seconds" = "--build-only" ]; then
  exit 0
fi

logs="fuzz/target/logs"
mkdir -p "$logs"
failed=()
summary=()
for target in $targets; do
  work="fuzz/target/corpus-work/$target"
  mkdir -p "$work" "fuzz/corpus/$target"
  log="$logs/$target.log"
  echo "==> $target: ${seconds}s"
  status=0
  # -timeout: a single input taking 10 s is a hang; -rss_limit_mb: the default, stated.
  cargo fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then
    # Without final stats (a crash), the last status line's #N is the count so far.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
  fi
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    summary+=("$(printf '%-16s %12s execs  CRASH (exit %s, see %s and fuzz/artifacts/%s/)' \
      "$target" "${execs:-?}" "$status" "$log" "$target")")
    tail -n 30 "$log"
  else
    summary+=("$(printf '%-16s %12s execs  0 crashes' "$target" "${execs:-?}")")
  fi
done

echo
echo "==> fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "crashes in: ${failed[*]}" >&2
  exit 1
fi
