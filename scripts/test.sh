#!/usr/bin/env bash
# The project's test command (README "Test it"; CI runs it through .ci/run).
# Installs what the tests need when it is missing (SIPp, from Debian's
# sip-tester package; headless Chromium and its WebDriver, from chromium and
# chromium-driver; Schemathesis, from PyPI), then runs, in order and stopping at the first failure:
# cargo fmt --check, cargo clippy -D warnings, every test (unit tests,
# the API tests against the real binary, the SIP outcome tests with SIPp as
# the carrier, the kill -9 restart test, the dashboard in Chromium), and a
# 60 s fuzz run of the SIP message path (cargo-fuzz, installed when missing).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

if ! command -v sipp >/dev/null 2>&1; then
    echo "== installing SIPp (Debian package sip-tester)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends sip-tester
fi
# The TLS trunk test uses Kamailio (with its TLS module) as the carrier,
# since Debian's SIPp has no TLS.
if ! command -v kamailio >/dev/null 2>&1 ||
    ! ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1; then
    echo "== installing Kamailio (Debian packages kamailio, kamailio-tls-modules)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends kamailio kamailio-tls-modules
fi
# The dashboard tests drive Debian's Chromium through chromedriver; they
# fail (never skip) when these are missing.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "== installing Chromium and chromedriver (Debian packages chromium, chromium-driver)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends chromium chromium-driver
fi
# The OpenAPI test runs Schemathesis against the live engine; it fails
# (never skips) when it is missing.
SCHEMATHESIS_VERSION=4.32.5
if ! command -v schemathesis >/dev/null 2>&1 ||
    ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "== installing Schemathesis $SCHEMATHESIS_VERSION (PyPI)"
    python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "== installing the $component component"
        rustup component add "$component"
    fi
done

echo "== sipp: $( (sipp -v 2>&1 || true) | grep -m1 -o 'SIPp v[^ ]*' || true)"
echo "== $(/usr/bin/chromedriver --version 2>&1 | head -n1 || true)"
echo "== $(schemathesis --version 2>&1 | head -n1 || true)"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# Doctests first, so the run ends on the summary of the real test suites.
echo "== cargo test --doc"
cargo test --doc

echo "== cargo test --all-targets --no-fail-fast"
cargo test --all-targets --no-fail-fast

# A bounded fuzz run of the SIP message path (fuzz/, its own workspace) on
# the stable toolchain; cargo-fuzz from crates.io when missing.
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "== fuzz/run.sh 60 (cargo fuzz run sip_inbound, 60 s)"
bash fuzz/run.sh 60

echo "== all checks passed"
