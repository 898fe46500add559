#!/usr/bin/env bash
# A bounded libFuzzer run of the SIP inbound path (fuzz_targets/sip_inbound.rs)
# on the stable toolchain: `fuzz/run.sh [SECONDS]` (default 60).
#
# cargo-fuzz's flags for a build without a sanitizer (`-s none`) are stable
# `-C` flags except the ones cargo-fuzz checks the toolchain for;
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them, so no nightly
# toolchain is needed. The corpus starts from the RFC 4475 torture
# messages and the samples in fuzz/seeds/ and lives in a temporary
# directory; a crash leaves its input in fuzz/artifacts/sip_inbound/ and
# fails the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${1:-60}"

corpus="$(mktemp -d -t outdial-fuzz-corpus.XXXXXX)"
trap 'rm -rf "$corpus"' EXIT
cp ../tests/fixtures/rfc4475/*.sip seeds/sip_inbound/*.sip "$corpus"/

export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none sip_inbound
cargo fuzz run -s none sip_inbound "$corpus" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1
