#!/usr/bin/env python3
"""Markdown tables from the last `cargo bench --bench protocol` run (target/criterion).

Throughput is the input's bytes over criterion's median time per iteration. Ratios come from
the same run. Usage: python3 benches/table.py [target/criterion]
"""
import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"


def load():
    results = {}
    for dirpath, _dirs, files in os.walk(ROOT):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        ns = est["median"]["point_estimate"]
        tp = bench.get("throughput") or {}
        results[bench["full_id"]] = (ns, tp.get("Bytes"), tp.get("Elements"))
    return results


def gibs(r):
    ns, nbytes, _ = r
    return nbytes / ns * 1e9 / 2**30


def fmt(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def chunk_tables(res, kind, impls):
    head = "| chunk size | message | " + " | ".join(f"{i} GiB/s" for i in impls)
    head += " | ours/rml_rtmp | ours/memcpy |"
    print(head)
    print("|" + "---|" * (len(impls) + 4))
    for cs in (128, 4096, 65536):
        for size in ("1KB", "30KB", "300KB"):
            row = {}
            for impl in impls:
                key = f"{kind}/cs{cs}/{impl}/{size}"
                if key in res:
                    row[impl] = gibs(res[key])
            if not row:
                continue
            ours = [v for k, v in row.items() if k.startswith("ours")]
            best = max(ours) if ours else float("nan")
            cells = " | ".join(fmt(row[i]) if i in row else "-" for i in impls)
            rml = row.get("rml_rtmp")
            mem = row.get("memcpy")
            print(
                f"| {cs} | {size} | {cells} | {fmt(best / rml) + 'x' if rml else '-'} | "
                f"{fmt(best / mem) + 'x' if mem else '-'} |"
            )
    print()


def main():
    res = load()
    if not res:
        sys.exit(f"no criterion results under {ROOT}")
    print("#### chunk writer (payload bytes/s; one message per iteration)\n")
    print("ours/rml_rtmp and ours/memcpy use the faster of our two writers.\n")
    chunk_tables(res, "chunk_write", ["memcpy", "ours_write", "ours_write_vectored", "rml_rtmp"])
    print("#### chunk reader (wire bytes/s; about 1 MiB of messages fed in 64 KiB reads)\n")
    chunk_tables(res, "chunk_read", ["memcpy", "ours", "rml_rtmp"])

    print("#### AMF0 (encoded bytes/s)\n")
    print("| body | op | ours MiB/s | rml_rtmp MiB/s | ours/rml_rtmp | ns per body (ours) |")
    print("|---|---|---:|---:|---:|---:|")
    for body in ("connect", "onMetaData"):
        for op in ("encode", "decode"):
            o = res.get(f"amf0/{body}/{op}/ours")
            r = res.get(f"amf0/{body}/{op}/rml_rtmp")
            if not (o and r):
                continue
            om, rm = gibs(o) * 1024, gibs(r) * 1024
            print(f"| {body} ({o[1]} B) | {op} | {om:.0f} | {rm:.0f} | {om / rm:.2f}x | {o[0]:.0f} |")
    print()

    print("#### FLV\n")
    print("| benchmark | throughput | vs memcpy |")
    print("|---|---:|---:|")
    mem = res.get("flv/tag_reader/memcpy")
    for name in ("ours/4KiB_blocks", "ours/per_tag"):
        r = res.get(f"flv/tag_reader/{name}")
        if r:
            ratio = f"{gibs(r) / gibs(mem):.2f}x" if mem else "-"
            print(f"| FlvTagReader, {name.split('/')[1]} | {fmt(gibs(r))} GiB/s | {ratio} |")
    if mem:
        print(f"| memcpy of the same stream | {fmt(gibs(mem))} GiB/s | 1x |")
    vh = res.get("flv/video_header/ours")
    if vh:
        print(f"| video tag header (11 + 5 bytes) | {vh[0] / vh[2]:.1f} ns/frame | - |")
    print()


main()
