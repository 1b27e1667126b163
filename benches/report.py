#!/usr/bin/env python3
"""Print the benchmark results as markdown tables, plus a check of issue 2's targets.

Reads criterion's medians (<criterion dir>/**/new/estimates.json, next to the
benchmark.json that names the group, the function and the throughput in bytes) and
the allocation counts the benches save (<criterion dir>/bench-allocs/<group>/<id>.txt).
The criterion dir is the argument, else $CRITERION_HOME, else target/criterion.
With several dirs (several runs of the same benches), each bench's best median is
used: on a shared machine, interference from other processes only ever slows a bench
down, so the best of a few runs is the least disturbed measurement.

Usage (from benches/):  python3 report.py [CRITERION_DIR ...]
"""

import json
import os
import sys
from pathlib import Path

if len(sys.argv) > 1:
    crits = [Path(a) for a in sys.argv[1:]]
elif os.environ.get("CRITERION_HOME"):
    crits = [Path(os.environ["CRITERION_HOME"])]
else:
    crits = [Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).parent / "target")) / "criterion"]

ENC_PEERS = ["axum", "actix-web-lab", "russe", "sse-stream"]
PARSE_PEERS = ["sse-stream", "eventsource-stream", "sse-codec"]
WORKLOADS = {
    "W1": "10,000 events: name `update`, 36-char id, ~100 B JSON data",
    "W2": "1,000 events of 4 KiB data in 64 lines",
    "W3": "100 events of 64 KiB single-line data",
    "W4": "100,000 `data: x` events",
}

results = {}  # (group, function) -> {"mbps": .., "allocs": .. or None, ..}
for crit in crits:
    allocs_dir = crit / "bench-allocs"
    for bj in crit.glob("**/new/benchmark.json"):
        meta = json.loads(bj.read_text())
        est = json.loads((bj.parent / "estimates.json").read_text())
        ns = est["median"]["point_estimate"]
        tp = (meta.get("throughput") or {}).get("Bytes")
        if not tp:
            continue
        group, fn = meta["group_id"], meta["function_id"]
        a = allocs_dir / group / (fn.replace("/", "__") + ".txt")
        per_event = total = events = None
        if a.exists():
            total, events = map(int, a.read_text().split())
            per_event = total / events
        mbps = tp / ns * 1e3
        old = results.get((group, fn))
        if old is None or mbps > old["mbps"]:
            results[(group, fn)] = {"mbps": mbps, "allocs": per_event, "total": total, "events": events}

# Per-stream setup a parser may allocate on top of one allocation per event (its
# buffer and its growth); the targets are about the per-event cost.
SETUP = 16


def mbps(group, fn):
    r = results.get((group, fn))
    return r["mbps"] if r else None


def fmt_alloc(a):
    if a is None:
        return "?"
    return f"{a:.0f}" if a == int(a) else f"{a:.3f}"


def fastest(group, names):
    best = None
    for (g, fn), r in results.items():
        if g == group and fn.split("/")[0] in names:
            if best is None or r["mbps"] > best[1]:
                best = (fn, r["mbps"])
    return best


out = []
checks = []  # (ok, text)


def check(ok, text):
    checks.append((ok, text))


out.append("### Encoders (MB/s of wire bytes, median)\n")
for w, desc in WORKLOADS.items():
    group = f"encode/{w}"
    if not any(g == group for g, _ in results):
        continue
    limit = mbps(group, "memcpy")
    best = fastest(group, ENC_PEERS)
    out.append(f"**{w}** — {desc}; fastest peer: {best[0] if best else '?'}\n")
    out.append("| encoder | MB/s | % of memcpy | vs fastest peer | allocs/event |")
    out.append("|---|---:|---:|---:|---:|")
    order = ["ours/encode_into", "ours/to_bytes"] + ENC_PEERS + ["memcpy"]
    for fn in order:
        r = results.get((group, fn))
        if not r:
            continue
        pct = f"{100 * r['mbps'] / limit:.1f} %" if limit else "?"
        vs = f"{r['mbps'] / best[1]:.2f}x" if best else "?"
        name = f"**{fn}**" if fn.startswith("ours") else fn
        out.append(f"| {name} | {r['mbps']:,.0f} | {pct} | {vs} | {fmt_alloc(r['allocs'])} |")
    out.append("")
    ours = mbps(group, "ours/encode_into")
    if ours and best and w in ("W1", "W4"):
        check(ours >= 2 * best[1], f"encode {w}: ours {ours:,.0f} MB/s = {ours / best[1]:.2f}x fastest peer ({best[0]}), target >= 2x")
    if ours and limit and w in ("W2", "W3"):
        need = 0.8 if w == "W3" else 0.5
        check(ours >= need * limit, f"encode {w}: ours = {100 * ours / limit:.1f} % of memcpy, target >= {need * 100:.0f} %")
    for fn, cap in (("ours/encode_into", 0), ("ours/to_bytes", 1)):
        r = results.get((group, fn))
        if r and r["allocs"] is not None:
            check(r["allocs"] <= cap, f"encode {w}: {fn} {fmt_alloc(r['allocs'])} allocs/event, target <= {cap}")

out.append("### Parsers (MB/s of wire bytes, median)\n")
for w, desc in WORKLOADS.items():
    group = f"parse/{w}"
    if not any(g == group for g, _ in results):
        continue
    limit = mbps(group, "memchr/whole")
    best = fastest(group, PARSE_PEERS)
    out.append(f"**{w}** — {desc}; fastest peer: {best[0] if best else '?'}\n")
    out.append("| parser / chunks | MB/s | % of memchr | vs sse-stream (same chunks) | vs fastest peer | allocs/event |")
    out.append("|---|---:|---:|---:|---:|---:|")
    fns = sorted({fn for g, fn in results if g == group},
                 key=lambda f: (["ours", *PARSE_PEERS, "memchr"].index(f.split("/")[0]),
                                ["1k", "4k", "whole"].index(f.split("/")[1])))
    for fn in fns:
        r = results[(group, fn)]
        chunks = fn.split("/")[1]
        ss = mbps(group, f"sse-stream/{chunks}")
        pct = f"{100 * r['mbps'] / limit:.1f} %" if limit else "?"
        vs_ss = f"{r['mbps'] / ss:.2f}x" if ss else "–"
        vs = f"{r['mbps'] / best[1]:.2f}x" if best else "?"
        name = f"**{fn}**" if fn.startswith("ours") else fn
        out.append(f"| {name} | {r['mbps']:,.0f} | {pct} | {vs_ss} | {vs} | {fmt_alloc(r['allocs'])} |")
    out.append("")
    for chunks in ("4k", "whole"):
        ours, ss, es = (mbps(group, f"{p}/{chunks}") for p in ("ours", "sse-stream", "eventsource-stream"))
        if ours and ss:
            need = 2 if w in ("W1", "W4") else 1
            check(ours >= need * ss, f"parse {w} {chunks}: ours = {ours / ss:.2f}x sse-stream, target >= {need}x")
        if ours and es:
            check(ours >= 10 * es, f"parse {w} {chunks}: ours = {ours / es:.1f}x eventsource-stream, target >= 10x")
    speeds = [mbps(group, f"ours/{c}") for c in ("1k", "4k", "whole")]
    if all(speeds):
        spread = 1 - min(speeds) / max(speeds)
        check(spread <= 0.2, f"parse {w}: ours 1k/4k/whole = {'/'.join(f'{s:,.0f}' for s in speeds)} MB/s, slowest {100 * spread:.0f} % below fastest, target <= 20 %")
    for fn in ("ours/1k", "ours/4k", "ours/whole"):
        r = results.get((group, fn))
        if r and r["allocs"] is not None:
            check(r["total"] <= r["events"] + SETUP,
                  f"parse {w}: {fn} {r['total']} allocs for {r['events']} events, target <= 1 per event + {SETUP} per stream")

print("\n".join(out))
if checks:
    met = sum(ok for ok, _ in checks)
    print(f"### Targets: {met} of {len(checks)} met\n")
    for ok, text in checks:
        print(f"- {'met' if ok else '**MISSED**'}: {text}")
