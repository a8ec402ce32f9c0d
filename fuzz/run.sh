#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) with its seed corpus.
#   fuzz/run.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); crashes land in
# fuzz/artifacts/<target>/ and each one found becomes a regression test (see the README).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checksums policy archive)
command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz is needed: cargo install cargo-fuzz" >&2; exit 1; }
python3 seeds.py
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "fuzz/run.sh: $target for ${seconds}s" >&2
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
done
