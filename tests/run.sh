#!/usr/bin/env bash
# The test command: sets up everything the tests need on a fresh machine, idempotently,
# runs the whole suite, and stops what it started.
#   - a Python virtual environment under target/test-venv with moto's S3 server and
#     aiosmtpd (PyPI)
#   - moto's server on a free loopback port, exported as RESTORE_DRILL_TEST_S3
#   - aiosmtpd on a free loopback port storing mail in a Maildir, exported as
#     RESTORE_DRILL_TEST_SMTP (host:port) and RESTORE_DRILL_TEST_MAILDIR
#   - Debian's chromium, poppler-utils (pdftotext, pdftoppm), minisign and libxml2-utils
#     (xmllint), for the report tests, tmux for the terminal tests, and restic for the
#     restic repository tests, when they are missing (needs root, as on CI)
#   - cargo-deb (pinned), and the Debian package built with packaging/build-deb.sh, exported
#     as RESTORE_DRILL_TEST_DEB (on a whole run, or one naming the package test)
#   - a 16 MiB tmpfs for the full-scratch case, exported as RESTORE_DRILL_TEST_SMALL_FS
#     (as root; otherwise that case limits the file size with setrlimit instead)
#   - cargo test (arguments are passed on: tests/run.sh s3 runs the tests matching "s3")
#   - on a whole run (no arguments) that passed: cargo fmt --check and
#     cargo clippy --all-targets -- -D warnings
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0

venv=target/test-venv
if ! "$venv/bin/python" -c 'import moto, boto3, flask, aiosmtpd' >/dev/null 2>&1; then
  echo "tests/run.sh: installing test servers into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

missing=()
for tool in chromium:chromium pdftotext:poppler-utils pdftoppm:poppler-utils minisign:minisign xmllint:libxml2-utils systemd-analyze:systemd script:bsdutils tmux:tmux /usr/bin/time:time adduser:adduser runuser:util-linux restic:restic; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "tests/run.sh: ${missing[*]} missing and not root: the report tests will fail; install them with apt-get" >&2
  fi
fi

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # wait_for URL PID NAME: up to 30 s for a server to answer
  for _ in $(seq 1 150); do
    if "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || { echo "tests/run.sh: $3 exited; its log:" >&2; cat "target/$3.log" >&2; return 1; }
    sleep 0.2
  done
  echo "tests/run.sh: $3 did not answer on $1 within 30 s" >&2
  return 1
}

pids=()
small_fs=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$small_fs" ]; then umount "$small_fs" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ "$(id -u)" = 0 ]; then
  mkdir -p target/test-small-fs
  umount target/test-small-fs 2>/dev/null || true
  if mount -t tmpfs -o size=16m,mode=0755 tmpfs target/test-small-fs; then
    small_fs="$PWD/target/test-small-fs"
    export RESTORE_DRILL_TEST_SMALL_FS="$small_fs"
  else
    echo "tests/run.sh: could not mount a tmpfs; the full-scratch case limits the file size instead" >&2
  fi
fi

mkdir -p target
s3_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" >target/moto.log 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$s3_port/moto-api/" "${pids[-1]}" moto

smtp_port=$(free_port)
maildir="$PWD/target/test-maildir"
rm -rf "$maildir"
mkdir -p "$maildir/cur" "$maildir/new" "$maildir/tmp"
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" >target/aiosmtpd.log 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
  "$venv/bin/python" -c "import smtplib, sys; smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=1).quit()" "$smtp_port" >/dev/null 2>&1 && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "tests/run.sh: aiosmtpd exited; its log:" >&2; cat target/aiosmtpd.log >&2; exit 1; }
  sleep 0.2
done

# The Debian package, for tests/package.rs: built here because a test cannot run cargo while
# `cargo test` holds the build folder. On a whole run, or one that names the package test.
if [ $# = 0 ] || [[ " $* " == *package* ]]; then
  if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "tests/run.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
  fi
  deb=$(bash packaging/build-deb.sh | tail -1)
  export RESTORE_DRILL_TEST_DEB="$PWD/$deb"
fi

export RESTORE_DRILL_TEST_S3="http://127.0.0.1:$s3_port"
export RESTORE_DRILL_TEST_SMTP="127.0.0.1:$smtp_port"
export RESTORE_DRILL_TEST_MAILDIR="$maildir"
export RESTORE_DRILL_TEST_PYTHON="$PWD/$venv/bin/python"
set +e
cargo test --no-fail-fast "$@" 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# One closing line for people and CI: the totals over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log
# Guard rails on a whole run (no filter): the code is formatted and clippy-clean.
if [ "$status" = 0 ] && [ $# = 0 ]; then
  cargo fmt --check || { echo "tests/run.sh: cargo fmt --check failed: run cargo fmt" >&2; status=1; }
  cargo clippy --all-targets --quiet -- -D warnings || { echo "tests/run.sh: clippy found warnings" >&2; status=1; }
fi
exit "$status"
