#!/usr/bin/env bash
# The performance benchmark (not run in CI): makes its own deterministic data under
# target/bench/, runs each case and its peers RUNS times (default 3) side by side, and prints
# the medians and the ratios the README's "Performance" table reports.
#   benches/run.sh [RUNS]          SCALE=4 benches/run.sh   (sizes divided by SCALE, for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
scale=${SCALE:-1}
mib=$((1024 * 1024))
size=$((1024 * mib / scale))
work=$PWD/target/bench
bin=$PWD/target/release/restore-drill
mkdir -p "$work"
cargo build --release --benches -q
for tool in zstd tar openssl sha256sum /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "benches/run.sh: $tool is needed" >&2; exit 1; }
done

# Deterministic, semi-compressible content: text-like first half, pseudo-random second half
# (AES-CTR keystream of zeros), so zstd at its default level has work of both kinds.
make_data() { # make_data BYTES FILE SEED
  [ -s "$2" ] && [ "$(stat -c %s "$2")" = "$1" ] && return 0
  local half=$(($1 / 2))
  python3 - "$half" "$3" >"$2" <<'PY'
import random, sys
half, seed = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(seed)
words = "patient invoice chart backup restore dental x-ray appointment ledger payroll claim".split()
block = "".join(f"{i:07d} " + " ".join(r.choice(words) for _ in range(9)) + "\n" for i in range(200000)).encode()
out = sys.stdout.buffer
written = 0
n = 0
while written < half:
    chunk = block.replace(b"0", str(n % 10).encode(), 1)[: half - written]
    out.write(chunk)
    written += len(chunk)
    n += 1
PY
  # head closes the pipe once it has enough: openssl's SIGPIPE is expected.
  (set +o pipefail; openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$3")" -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null | head -c $(($1 - half)) >>"$2")
}

# Runs a command RUNS times; prints "median_seconds median_maxrss_kib".
measure() {
  local times=() rss=()
  for _ in $(seq 1 "$runs"); do
    sync
    local out
    /usr/bin/time -f "%e %M" -o "$work/time.out" bash -c "$1" >/dev/null 2>&1 || true
    out=$(tail -1 "$work/time.out")
    times+=("${out% *}")
    rss+=("${out#* }")
  done
  local t m
  t=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
  m=$(printf '%s\n' "${rss[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
  echo "$t $m"
}

policy() { # policy DIR ROOT PREFIX
  mkdir -p "$1"
  cat >"$1/bench.yaml" <<YAML
name: bench
client: Bench
storage:
  service: fs
  root: $2
backups:
  prefix: $3
checksums:
  required: true
targets:
  rpo: 3650d
  rto: 24h
YAML
  printf 'scratch_dir: %s\nstate_dir: %s\n' "$work/scratch" "$work/state-$(basename "$1")" >"$1/restore-drill.yaml"
}

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9):.2f}')" "$1" "$2"; }
mibs() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]) / 2**20:.0f}')" "$1" "$2"; }
row() { printf '| %-44s | %9s s | %7s MiB/s | %8s MiB |\n' "$1" "$2" "$3" "$(($4 / 1024))"; }

echo "restore-drill benchmark: $(nproc) cores, runs=$runs, scale=1/$scale, $(date -u +%Y-%m-%dT%H:%MZ)"
echo

# --- one object ---------------------------------------------------------------------------
one=$work/one/x/2026-11-26
mkdir -p "$one" "$work/scratch"
make_data "$size" "$work/one.raw" 1
[ "$one/data.zst" -nt "$work/one.raw" ] || zstd -q -f "$work/one.raw" -o "$one/data.zst"
(cd "$one" && sha256sum data.zst >SHA256SUMS)
policy "$work/c-one" "$work/one" x/
rm -rf "$work/state-c-one"
"$bin" run --progress never --config-dir "$work/c-one" >"$work/check.log" 2>&1 || { echo "benches/run.sh: the restore failed:" >&2; cat "$work/check.log" >&2; exit 1; }
read -r t_ours m_ours < <(measure "$bin run --progress never --config-dir $work/c-one")
read -r t_zo _ < <(measure "zstd -q -d -f $one/data.zst -o $work/scratch/out")
read -r t_zn _ < <(measure "zstd -q -dc $one/data.zst >/dev/null")
read -r t_sh _ < <(measure "zstd -q -dc $one/data.zst | tee $work/scratch/out | sha256sum")
rm -f "$work/scratch/out"
echo "## One $((size / mib)) MiB .zst object (restored bytes $((size / mib)) MiB)"
echo "| case | median | throughput (restored) | peak RSS |"
echo "|---|---|---|---|"
row "restore-drill run (restore + verify)" "$t_ours" "$(mibs "$size" "$t_ours")" "$m_ours"
row "zstd -d -o FILE" "$t_zo" "$(mibs "$size" "$t_zo")" 0
row "zstd -dc > /dev/null" "$t_zn" "$(mibs "$size" "$t_zn")" 0
row "zstd -dc | tee FILE | sha256sum" "$t_sh" "$(mibs "$size" "$t_sh")" 0
echo "ratio vs zstd -d -o: $(ratio "$t_zo" "$t_ours") (target >= 0.9); vs shell pipeline: $(ratio "$t_sh" "$t_ours") (target >= 3)"
echo

# --- the same object over S3 (moto's server on loopback) ------------------------------------
venv=$PWD/target/test-venv
if ! "$venv/bin/python" -c 'import moto, boto3' >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
s3stage=$work/s3stage
rm -rf "$s3stage" && mkdir -p "$s3stage/x/2026-11-26"
ln "$one/data.zst" "$s3stage/x/2026-11-26/data.zst" 2>/dev/null || cp "$one/data.zst" "$s3stage/x/2026-11-26/data.zst"
cp "$one/SHA256SUMS" "$s3stage/x/2026-11-26/"
"$venv/bin/python" tests/support/s3_upload.py "http://127.0.0.1:$port" bench "$s3stage"
mkdir -p "$work/c-s3"
cat >"$work/c-s3/bench.yaml" <<YAML
name: bench
client: Bench
storage:
  service: s3
  bucket: bench
  endpoint: http://127.0.0.1:$port
  region: us-east-1
  access_key_id: bench
  secret_access_key: \${env:BENCH_S3_SECRET}
backups:
  prefix: x/
targets:
  rpo: 3650d
  rto: 24h
YAML
printf 'scratch_dir: %s\nstate_dir: %s\n' "$work/scratch" "$work/state-c-s3" >"$work/c-s3/restore-drill.yaml"
rm -rf "$work/state-c-s3"
export BENCH_S3_SECRET=bench
read -r t_s3 m_s3 < <(measure "$bin run --progress never --config-dir $work/c-s3")
# curl fetches through a presigned URL: the server checks a signature, as for the runner.
url=$("$venv/bin/python" -c "import boto3, sys; print(boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='bench', aws_secret_access_key='bench').generate_presigned_url('get_object', Params={'Bucket': 'bench', 'Key': 'x/2026-11-26/data.zst'}, ExpiresIn=3600))" "http://127.0.0.1:$port")
got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$url")
[ "$got" = "200 $(stat -c %s "$one/data.zst")" ] || { echo "benches/run.sh: curl GET answered $got" >&2; exit 1; }
read -r t_curl _ < <(measure "curl -s -o /dev/null '$url'")
kill $moto 2>/dev/null || true
stored=$(stat -c %s "$one/data.zst")
echo "## The same object over S3 (moto on loopback)"
echo "| case | median | throughput (stored) | peak RSS |"
echo "|---|---|---|---|"
row "restore-drill run over S3" "$t_s3" "$(mibs "$stored" "$t_s3")" "$m_s3"
row "curl GET to /dev/null" "$t_curl" "$(mibs "$stored" "$t_curl")" 0
echo "ratio vs curl GET: $(ratio "$t_curl" "$t_s3"); vs the fs run: $(ratio "$t_ours" "$t_s3") (target >= 0.9 of the lower)"
echo

# --- one .tar.zst of 1,000 files ----------------------------------------------------------
tarsrc=$work/tarsrc
if [ ! "$tarsrc" -nt "$work/one.raw" ]; then
  rm -rf "$tarsrc"
  mkdir -p "$tarsrc"
  split -n 1000 -d -a 4 "$work/one.raw" "$tarsrc/file-"
fi
tdir=$work/tar/x/2026-11-26
mkdir -p "$tdir"
[ "$tdir/files.tar.zst" -nt "$tarsrc" ] || tar --sort=name -C "$tarsrc" -cf - . | zstd -q -f -o "$tdir/files.tar.zst"
(cd "$tdir" && sha256sum files.tar.zst >SHA256SUMS)
policy "$work/c-tar" "$work/tar" x/
rm -rf "$work/state-c-tar"
read -r t_ours m_ours < <(measure "$bin run --progress never --config-dir $work/c-tar")
read -r t_zo _ < <(measure "zstd -q -d -f $tdir/files.tar.zst -o $work/scratch/out.tar")
read -r t_sh _ < <(measure "rm -rf $work/scratch/x && mkdir -p $work/scratch/x && zstd -q -dc $tdir/files.tar.zst | tee >(sha256sum >/dev/null) | tar -x -C $work/scratch/x")
rm -rf "$work/scratch/out.tar" "$work/scratch/x"
echo "## One $((size / mib)) MiB .tar.zst of 1,000 files"
echo "| case | median | throughput (restored) | peak RSS |"
echo "|---|---|---|---|"
row "restore-drill run (extract + verify)" "$t_ours" "$(mibs "$size" "$t_ours")" "$m_ours"
row "zstd -d -o FILE.tar" "$t_zo" "$(mibs "$size" "$t_zo")" 0
row "zstd -dc | tee >(sha256sum) | tar -x" "$t_sh" "$(mibs "$size" "$t_sh")" 0
echo "ratio vs zstd -d -o: $(ratio "$t_zo" "$t_ours"); vs shell pipeline: $(ratio "$t_sh" "$t_ours")"
echo

# --- 8 objects ----------------------------------------------------------------------------
part=$((256 * mib / scale))
many=$work/many/x/2026-11-26
mkdir -p "$many"
for i in 1 2 3 4 5 6 7 8; do
  make_data "$part" "$work/part-$i.raw" $((10 + i))
  [ "$many/part-$i.zst" -nt "$work/part-$i.raw" ] || zstd -q -f "$work/part-$i.raw" -o "$many/part-$i.zst"
done
(cd "$many" && sha256sum part-*.zst >SHA256SUMS)
policy "$work/c-many" "$work/many" x/
rm -rf "$work/state-c-many"
total=$((8 * part))
read -r t_ours m_ours < <(measure "$bin run --progress never --config-dir $work/c-many")
read -r t_sh _ < <(measure "ls $many/part-*.zst | xargs -P 2 -I{} sh -c 'zstd -q -dc {} | tee $work/scratch/\$(basename {}).out | sha256sum'")
rm -f "$work/scratch/"*.out
# The machine's compute limit: both cores decoding and hashing, nothing else.
read -r t_zo _ < <(measure "zstd -q -d -f $many/part-1.zst -o $work/scratch/p.out")
read -r t_dg _ < <(measure "openssl dgst -sha256 $many/part-1.zst")
rm -f "$work/scratch/p.out"
stored=$(stat -c %s "$many/part-1.zst")
limit=$(python3 -c "import sys; p,s,tz,td=map(float,sys.argv[1:]); print(f'{2 / (tz / p + td / p):.0f}')" "$part" "$stored" "$t_zo" "$t_dg")
echo "## 8 objects of $((part / mib)) MiB, 4 restores at once"
echo "| case | median | throughput (restored) | peak RSS |"
echo "|---|---|---|---|"
row "restore-drill run" "$t_ours" "$(mibs "$total" "$t_ours")" "$m_ours"
row "xargs -P 2: zstd -dc | tee | sha256sum" "$t_sh" "$(mibs "$total" "$t_sh")" 0
echo "compute limit (2 cores / (s per byte of zstd -d -o + of openssl dgst)): $(python3 -c "import sys; print(f'{float(sys.argv[1]) / 2**20:.0f}')" "$limit") MiB/s"
echo "ratio vs compute limit: $(python3 -c "import sys; t,n,l=map(float,sys.argv[1:]); print(f'{n / t / l:.2f}')" "$t_ours" "$total" "$limit") (target >= 0.85); vs shell pipeline: $(ratio "$t_sh" "$t_ours") (target >= 3)"
echo

# --- listing 100,000 objects in 1,000 sets ------------------------------------------------
lst=$work/list
if [ ! -d "$lst/x" ]; then
  python3 - "$lst/x" <<'PY'
import os, sys
root = sys.argv[1]
for s in range(1000):
    d = os.path.join(root, f"2026-{1 + s // 28 % 12:02d}-{1 + s % 28:02d}-{s:04d}")
    os.makedirs(d, exist_ok=True)
    for o in range(100):
        open(os.path.join(d, f"obj-{o:03d}.zst"), "wb").close()
PY
fi
policy "$work/c-list" "$lst" x/
read -r t_ours m_ours < <(measure "$bin run --dry-run --progress never --config-dir $work/c-list")
bare=$(find target/release/deps -maxdepth 1 -type f -name 'bare_list-*' -perm -u+x | head -1)
read -r t_bare m_bare < <(measure "$bare $lst x/")
echo "## Listing and planning 100,000 objects in 1,000 sets"
echo "| case | median | peak RSS |"
echo "|---|---|---|"
printf '| %-44s | %9s s | %8s MiB |\n' "restore-drill run --dry-run (list + plan)" "$t_ours" "$((m_ours / 1024))"
printf '| %-44s | %9s s | %8s MiB |\n' "opendal bare recursive list" "$t_bare" "$((m_bare / 1024))"
echo "ratio to the bare list: $(ratio "$t_ours" "$t_bare") (target <= 1.2)"
