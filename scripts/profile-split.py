#!/usr/bin/env python3
"""Where the CPU went in a `perf record -a` profile, by process and by kind
of work.

Usage: scripts/profile-split.py PERF_DATA [ROLES] [--per N UNIT]

ROLES is a file of lines `<role> <pid> [<pid>...]` (gateway-bench.sh and
small-bench.sh write one next to the profiles); processes not named are
grouped by command name. With `--per N UNIT` the table also gives core-ms
per UNIT for N units moved during the profile (e.g. `--per 268 MB`).
"""

import collections
import re
import subprocess
import sys

# First match wins; symbols are matched in lower case.
KINDS = [
    ("idle", r"pv_native_safe_halt|cpu_idle|default_idle|intel_idle|poll_idle"),
    ("MD5 (ETags)", r"md5"),
    ("SHA-256 (SigV4 payloads)", r"sha256|sha2::|sha256_block"),
    ("blake3 (shard ids, proofs)", r"blake3"),
    ("ChaCha20-Poly1305 (noise)", r"chacha|poly1305"),
    ("AES-GCM (objects, TLS)", r"aes|gcm|ghash|gfmul"),
    ("Reed-Solomon", r"reedsolomon|galois|gal_mul"),
    ("CRC checksums", r"crc"),
    ("memcpy", r"memmove|memcpy"),
    ("memset (zeroing)", r"memset|clear_page"),
    ("malloc and free", r"malloc|free|_int_|realloc|consolidate|unlink_chunk|__rdl_|__rust_alloc|__rust_dealloc|tcache"),
    ("kernel copies to and from user memory", r"copy_to_iter|copy_from_iter|copy_folio|copy_page|copy_user|rep_movs"),
    ("kernel page cache and file system", r"ext4|jbd2|folio|filemap|block|bio|iowrite|blk_|xas_|buffer|writeback|page_cache|lruvec|mark_page|__brelse|find_get_block|recently_deleted|pagevec|dd_dispatch"),
    ("kernel network", r"tcp|ip_|ipv4|skb|net_|inet|sock|loopback|napi|__dev_|netif|softirq|nf_"),
    ("scheduling, wake-ups and locks", r"finish_task_switch|schedule|futex|spin|wake|switch_to|pick_next|enqueue|dequeue|select_task|update_curr|irqentry|syscall|epoll|ep_|tick|hrtimer|clock_gettime|vdso"),
    ("redb", r"redb::"),
    ("yamux and libp2p", r"yamux|libp2p|multistream|rustls"),
    ("tokio and futures", r"tokio::|futures_|mio::"),
    ("hyper, http and s3s", r"hyper|http::|s3s|h2::"),
]
KIND_RES = [(name, re.compile(pattern)) for name, pattern in KINDS]


def kind_of(sym, dso):
    text = sym.lower()
    for name, pattern in KIND_RES:
        if pattern.search(text):
            return name
    if "python" in dso:
        return "Python interpreter"
    if "libcrypto" in dso or "libz" in dso:
        return "client's own hashing (libcrypto, zlib)"
    return "other"


def main():
    args = sys.argv[1:]
    per = None
    if "--per" in args:
        i = args.index("--per")
        per = (float(args[i + 1]), args[i + 2])
        del args[i : i + 3]
    data = args[0]
    roles = {}
    if len(args) > 1:
        for line in open(args[1]):
            parts = line.split()
            for pid in parts[1:]:
                roles[pid] = parts[0]
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "comm,pid,ip,sym,dso"],
        capture_output=True, text=True, check=True,
    ).stdout
    line_re = re.compile(r"^\s*(.*?)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s*\((.*)\)\s*$")
    by_role = collections.Counter()
    by_kind = collections.Counter()
    by_role_kind = collections.Counter()
    total = 0
    for line in out.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        comm, pid, sym, dso = m.groups()
        role = roles.get(pid) or ("idle" if pid == "0" else comm.strip())
        kind = kind_of(sym, dso)
        if kind == "idle":
            role = "idle"
        by_role[role] += 1
        by_kind[kind] += 1
        by_role_kind[(role, kind)] += 1
        total += 1
    if not total:
        sys.exit("no samples")
    # Samples are taken at the same rate on every core, so a sample stands
    # for 1/frequency core-seconds.
    freq = None
    header = subprocess.run(["perf", "report", "-i", data, "--header-only"],
                            capture_output=True, text=True).stdout
    m = re.search(r"sample_freq \}?\s*=\s*(\d+)", header)
    if m:
        freq = int(m.group(1))

    def row(label, n):
        share = 100.0 * n / total
        cells = f"| {label} | {share:.1f} %"
        if per and freq:
            cells += f" | {n / freq * 1000 / per[0]:.3f}"
        return cells + " |"

    unit = f" | core-ms per {per[1]}" if per and freq else ""
    print(f"samples: {total}" + (f" at {freq} Hz" if freq else ""))
    print(f"\n| process | share{unit} |\n|---|---|" + ("---|" if unit else ""))
    small = 0
    for role, n in by_role.most_common():
        if n < total / 200:
            small += n
            continue
        print(row(role, n))
    if small:
        print(row("everything else", small))
    print(f"\n| work | share{unit} |\n|---|---|" + ("---|" if unit else ""))
    for kind, n in by_kind.most_common():
        print(row(kind, n))
    for role, n in by_role.most_common():
        if role == "idle" or n < total / 50:
            continue
        kinds = [(k, n) for (r, k), n in by_role_kind.items() if r == role]
        kinds.sort(key=lambda kn: -kn[1])
        top = ", ".join(f"{k} {100.0 * n / total:.1f}" for k, n in kinds[:8])
        print(f"\n{role}: {top}")


if __name__ == "__main__":
    main()
