#!/usr/bin/env python3
"""Fold `perf script` stacks and render them as a flame graph SVG (our own small renderer).

Usage:
  perf script -i perf.data | bench/tools/flamegraph.py --title "halo gateway" --svg out.svg [--folded out.folded] [--top 25]
  bench/tools/flamegraph.py --from-folded out.folded --svg out.svg      (re-render)

Frames are cleaned for reading: offsets dropped, .NET perf-map names shortened to Type::Method, kernel
frames suffixed [k]. --top prints the frames with the most self and inclusive samples (for docs).
"""
import argparse, collections, html, re, sys, zlib

def clean(sym, dso):
    if sym in ("[unknown]", ""):
        return "[" + dso.rsplit("/", 1)[-1] + "]" if dso not in ("[unknown]", "") else "[unknown]"
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    tier = ""
    m = re.search(r"\[(OptimizedTier1|Optimized|Tier0|Tier1|InstrumentedTier|InstrumentedTier1|QuickJitted|PreJIT|OptimizedTier1OSR|Tier1OSR)\]$", sym)
    if m:
        sym = sym[: m.start()]
        if m.group(1) in ("Tier0", "InstrumentedTier", "InstrumentedTier1", "QuickJitted"):
            tier = " [" + m.group(1) + "]"
    # "instance class X [Asm] Ns.Type`1[T]::Method(args)" -> "Type`1::Method"
    sym = re.sub(r"^(instance |static )?((class|valuetype|void|bool|int\d*|uint\d*|string|float\d*|native int|object|char|unsigned int\d*) ?)*", "", sym)
    sym = re.sub(r"^[^\[]*\[[^\]]*\] ", "", sym)  # return type and [assembly]
    sym = re.sub(r"\(.*\)$", "", sym)
    if "::" in sym:
        t, meth = sym.rsplit("::", 1)
        t = re.sub(r"\[[^\]]*\]", "", t).rsplit(".", 1)[-1]
        sym = t + "::" + meth
    if dso.endswith("kernel.kallsyms]") or dso == "[kernel.kallsyms]":
        sym += " [k]"
    return sym + tier

def fold(lines):
    stacks = collections.Counter()
    frames, comm = [], None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                stacks[";".join([comm] + frames[::-1])] += 1
            frames, comm = [], None
            continue
        if not line.startswith((" ", "\t")):
            # "comm with spaces  pid/tid  [cpu]  time: period event:" -> comm (thread name)
            m = re.match(r"^(.*?)\s+\d+(/\d+)?\s", line)
            comm = (m.group(1) if m else line.split()[0]).replace(" ", "_")
            continue
        parts = line.strip().split(" ", 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        m = re.match(r"(.*) \((.*)\)$", rest)
        sym, dso = (m.group(1), m.group(2)) if m else (rest, "")
        frames.append(clean(sym, dso))
    if frames:
        stacks[";".join([comm] + frames[::-1])] += 1
    return stacks

def color(name):
    h = zlib.crc32(name.encode()) & 0xFFFF
    if name.endswith("[k]"):
        return f"rgb({220 + h % 35},{120 + h % 60},{40 + h % 30})"   # kernel: orange
    if "::" in name:
        return f"rgb({60 + h % 50},{170 + h % 60},{90 + h % 50})"    # managed: green
    return f"rgb({200 + h % 55},{60 + h % 50},{60 + h % 40})"        # native runtime / libs: red

def render(stacks, title, out, width=1400, row=16):
    root = {"n": 0, "c": {}}
    for stack, count in stacks.items():
        node = root
        node["n"] += count
        for f in stack.split(";"):
            node = node["c"].setdefault(f, {"n": 0, "c": {}})
            node["n"] += count
    total = root["n"] or 1
    rects = []
    def walk(node, name, x, depth):
        w = node["n"] / total * (width - 20)
        if w < 0.3:
            return
        rects.append((name, x, depth, w, node["n"]))
        cx = x
        for child_name, child in sorted(node["c"].items()):
            walk(child, child_name, cx, depth + 1)
            cx += child["n"] / total * (width - 20)
    walk(root, "all", 10, 0)
    if root["n"] == 0:
        sys.exit("no samples")
    depth_max = max(d for _, _, d, _, _ in rects) + 1
    height = depth_max * row + 60
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
         f'<rect width="100%" height="100%" fill="#fdfdf5"/>',
         f'<text x="{width/2}" y="20" text-anchor="middle" font-size="15">{html.escape(title)} ({total} samples)</text>']
    for name, x, d, w, n in rects:
        y = height - 20 - (d + 1) * row
        label = html.escape(name)
        o.append(f'<g><title>{label} — {n} samples, {100*n/total:.2f}%</title>'
                 f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row-1}" fill="{color(name)}" rx="2"/>')
        chars = int(w / 6.6)
        if chars >= 4:
            text = name if len(name) <= chars else name[: chars - 2] + ".."
            o.append(f'<text x="{x+3:.1f}" y="{y+11}">{html.escape(text)}</text>')
        o.append("</g>")
    o.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(o))

def top(stacks, n):
    total = sum(stacks.values()) or 1
    self_c, incl = collections.Counter(), collections.Counter()
    for stack, count in stacks.items():
        fs = stack.split(";")
        self_c[fs[-1]] += count
        for f in set(fs[1:]):
            incl[f] += count
    print(f"total samples: {total}")
    by_thread, by_kind = collections.Counter(), collections.Counter()
    for stack, count in stacks.items():
        fs = stack.split(";")
        by_thread[fs[0]] += count
        leaf = fs[-1]
        by_kind["kernel" if leaf.endswith("[k]") else "managed (JIT code)" if "::" in leaf else "runtime/native"] += count
    print("by thread: " + ", ".join(f"{t} {100*c/total:.1f}%" for t, c in by_thread.most_common(8)))
    print("by where the sample landed: " + ", ".join(f"{k} {100*c/total:.1f}%" for k, c in by_kind.most_common()))
    print("\nself %   frame")
    for f, c in self_c.most_common(n):
        print(f"{100*c/total:6.2f}  {f}")
    print("\ninclusive %   frame")
    for f, c in incl.most_common(n):
        print(f"{100*c/total:6.2f}  {f}")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--svg")
    ap.add_argument("--folded")
    ap.add_argument("--from-folded")
    ap.add_argument("--top", type=int, default=0)
    a = ap.parse_args()
    if a.from_folded:
        stacks = collections.Counter()
        for line in open(a.from_folded):
            s, c = line.rstrip("\n").rsplit(" ", 1)
            stacks[s] += int(c)
    else:
        stacks = fold(sys.stdin)
    if a.folded:
        with open(a.folded, "w") as f:
            for s, c in sorted(stacks.items()):
                f.write(f"{s} {c}\n")
    if a.svg:
        render(stacks, a.title, a.svg)
    if a.top:
        top(stacks, a.top)

if __name__ == "__main__":
    main()
