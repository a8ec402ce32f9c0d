#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets into fuzz/corpus/<target>/, from the
hostile cases of tests/hostile: checksum files of every style (and broken ones), the shipped
policies and broken YAML, and tar archives with escaping names, links, special files,
lying PAX sizes and truncation. Deterministic; run by fuzz/run.sh."""
import io, os, sys, tarfile, pathlib

here = pathlib.Path(__file__).resolve().parent
corpus = here / "corpus"
digest = "a" * 64

def put(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())

# checksum and manifest files
put("checksums", "gnu", f"{digest}  data.zst\n{digest} *other.zst\n")
put("checksums", "bsd", f"SHA256 (data.zst) = {digest}\n")
put("checksums", "bare", f"{digest}\n")
put("checksums", "crlf", f"{digest}  data.zst\r\n")
put("checksums", "upper", f"{digest.upper()}  data.zst\n")
put("checksums", "escaped", f"\\{digest}  new\\nline\\\\x.zst\n")
put("checksums", "dotdot", f"{digest}  ../other/data.zst\n")
put("checksums", "short", f"{digest[:63]}  data.zst\n")
put("checksums", "duplicate", f"{digest}  d.zst\n{'b' * 64}  d.zst\n")
put("checksums", "comment", f"# made by sha256sum\n\n{digest}  d.zst\n")
put("checksums", "sha512", f"{'c' * 128}  d.zst\n")

# policies
for p in sorted((here.parent / "policies").rglob("*.yaml")):
    put("policy", p.name, p.read_bytes())
put("policy", "anchors", 'a: &a ["lol","lol"]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\n')
put("policy", "dup", "name: a\nname: b\n")
put("policy", "deep", "description: " + "[" * 200 + "]" * 200 + "\n")
put("policy", "secret", "name: x\nclient: c\nstorage:\n  service: s3\n  secret_access_key: ${env:NOPE}\n")

# archives: first byte 1 = a raw tar, 0 = a tar the harness compresses
def tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, data, link in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data)
            info.linkname = link
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

reg = tarfile.REGTYPE
archives = {
    "plain": [("ok.txt", reg, b"fine\n", ""), ("MANIFEST.sha256", reg, f"{digest}  ok.txt\n".encode(), "")],
    "dotdot": [("../escape", reg, b"x", ""), ("a/../../escape", reg, b"x", ""), ("/abs/escape", reg, b"x", "")],
    "links": [("link", tarfile.SYMTYPE, b"", "/etc"), ("link/pwned", reg, b"x", ""), ("hard", tarfile.LNKTYPE, b"", "/etc/passwd")],
    "special": [("c", tarfile.CHRTYPE, b"", ""), ("b", tarfile.BLKTYPE, b"", ""), ("f", tarfile.FIFOTYPE, b"", "")],
    "names": [("new\nline", reg, b"a", ""), ("dir/", tarfile.DIRTYPE, b"", ""), ("dir/x", reg, b"b", "")],
}
for name, entries in archives.items():
    data = tar(entries)
    put("archive", name, b"\x01" + data)
    put("archive", name + "-zst", b"\x00" + data)
    put("archive", name + "-truncated", b"\x01" + data[: len(data) // 2])
pax = io.BytesIO()
with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as t:
    info = tarfile.TarInfo("liar.txt")
    info.size = 10
    info.pax_headers = {"size": "1073741824"}
    t.addfile(info, io.BytesIO(b"ten bytes!"))
put("archive", "pax-size", b"\x01" + pax.getvalue())
put("archive", "zstd-frame", b"\x02" + bytes([0x28, 0xB5, 0x2F, 0xFD, 0x00, 22 << 3, 0x09, 0x00, 0x00]) + b"x")
