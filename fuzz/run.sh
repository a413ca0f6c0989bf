#!/usr/bin/env bash
# A bounded libFuzzer run of the `decode` target, as CI runs it:
#   fuzz/run.sh            # 60 s
#   FUZZ_SECONDS=600 fuzz/run.sh
# Needs the nightly toolchain and cargo-fuzz (installed here if missing).
# New inputs go to fuzz/corpus-work/ (ignored by git); the seeds in
# fuzz/corpus/decode are only read. A crash leaves its input in
# fuzz/artifacts/decode/ and fails the run: turn it into a regression test
# in shared/tests/regressions.rs.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
mkdir -p corpus-work
cargo +nightly fuzz run decode corpus-work corpus/decode -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
