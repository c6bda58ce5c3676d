#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10) on the stable toolchain, from the seeds in
# fuzz/seeds plus the corpus kept in the cache, and stops at the first crash (its input is
# written to fuzz/artifacts/TARGET/). CI runs it bounded; a long run is `fuzz/run.sh 600`.
# A target name as the second argument runs only that one. The build is made once, in a target
# directory cached next to the corpus, and the targets' binaries are then run directly.
# PROMPTOPS_FUZZ_PROFILE=dev builds without optimisation (a cheaper build, fewer executions per
# second); the default, release, is for long runs. Both keep overflow checks on.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
only="${2:-}"
profile="${PROMPTOPS_FUZZ_PROFILE:-release}"
cache="${PROMPTOPS_TOOLS_CACHE:-$HOME/.cache/promptops-tools}"
target_dir="$cache/fuzz-target"
# cargo-fuzz needs unstable rustc flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz@0.13.2
fi

# No sanitizer: the code is `unsafe`-free Rust, and ASan would halve the executions per second.
case "$profile" in
  # cargo-fuzz's default: optimised, with debug assertions and overflow checks.
  release) build_flags=() out=release ;;
  dev) build_flags=(--dev) out=debug ;;
  *) echo "PROMPTOPS_FUZZ_PROFILE must be release or dev, not $profile" >&2; exit 2 ;;
esac
cargo fuzz build "${build_flags[@]}" -s none --target-dir "$target_dir" ${only:+"$only"}
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/$out"
mkdir -p fuzz/artifacts
for target in $(cargo fuzz list); do
  [ -n "$only" ] && [ "$target" != "$only" ] && continue
  corpus="$cache/fuzz-corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  log="$cache/fuzz-logs/$target.log"
  mkdir -p "$(dirname "$log")"
  echo "fuzzing $target for ${seconds}s (log: $log)"
  # The template target renders in this process, where a template can build text without bound
  # (docs/security.md, Templates: the server renders in its sandbox instead). Its slow and
  # memory-hungry units are that known class, so it runs in fork mode, which records them in
  # the log and goes on; a crash (a panic) still fails the run.
  mode=()
  [ "$target" = template ] && mode=(-fork=1 -ignore_timeouts=1 -ignore_ooms=1 -ignore_crashes=0)
  status=0
  "$bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 ${mode[@]+"${mode[@]}"} "$corpus" "fuzz/seeds/$target" \
    >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+ +DONE|^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
  echo "corpus: $(find "$corpus" -type f | wc -l) inputs"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz target $target failed: the input is in fuzz/artifacts/$target/"
    exit 1
  fi
done
