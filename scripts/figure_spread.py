"""How far each figure the tests check moved between the numeric configurations of `make test`, and its margin.

    python scripts/figure_spread.py FIGURES.jsonl ... [--markdown OUT] [--min-ratio 3]

Reads the lines ``tests/figures.py`` wrote in each pass (one file per pass, or several passes in one file) and, per
figure name: the values seen in each configuration, their spread (largest minus smallest, over every configuration
and repetition), the margin (the distance from the value nearest the bar to the bar) and margin / spread. Exit 1
when a figure failed its bar, or when its margin is less than --min-ratio times its spread: a bar that a host with
other kernels could cross. A figure seen in one configuration only is listed without a spread.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path


def load(paths: list[Path]) -> dict[str, list[dict]]:
    by_name: dict[str, list[dict]] = defaultdict(list)
    for p in paths:
        for line in p.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                by_name[d["name"]].append(d)
    return dict(by_name)


def margin(d: dict) -> float:
    v = d["value"]
    if v is None:
        return -math.inf
    return v - d["bar"] if d["op"] in (">=", ">") else d["bar"] - v


def fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return str(x)
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def same_bytes(by_name: dict[str, list[dict]]) -> tuple[list[str], list[str]]:
    """Files recorded by sha256: the names that had the same bytes in every configuration, and the problems."""
    same, problems = [], []
    for name in sorted(by_name):
        ds = by_name[name]
        if "sha256" not in ds[0]:
            continue
        digests = {d["config"]: d["sha256"] for d in ds}
        if len(set(digests.values())) > 1:
            problems.append(
                f"{name}: different bytes per configuration ({', '.join(f'{c} {h[:12]}' for c, h in digests.items())})"
            )
        else:
            same.append(f"{name} ({len(digests)} configurations)")
    return same, problems


def summarise(by_name: dict[str, list[dict]], min_ratio: float) -> tuple[list[list[str]], list[str]]:
    rows, problems = [], []
    for name in sorted(by_name):
        ds = by_name[name]
        if "sha256" in ds[0]:
            continue
        values = [d["value"] for d in ds if d["value"] is not None]
        configs = sorted({d["config"] for d in ds})
        worst = min(margin(d) for d in ds)
        spread = (max(values) - min(values)) if len(values) == len(ds) else math.inf
        ratio = math.inf if spread == 0 else worst / spread
        bar = ", ".join(sorted({f"{d['op']} {fmt(d['bar'])}" for d in ds}))
        if worst < 0 or (worst == 0 and ds[0]["op"] in (">", "<")):
            problems.append(f"{name}: fails its bar ({fmt(min(values, default=math.nan))} {bar})")
        elif len(configs) > 1 and ratio < min_ratio:
            problems.append(f"{name}: margin {fmt(worst)} is {ratio:.2g}x its spread {fmt(spread)} (< {min_ratio:g}x)")
        rows.append([name, bar, str(len(configs)), fmt(min(values, default=math.nan)),
                     fmt(max(values, default=math.nan)), fmt(spread) if len(configs) > 1 else "-", fmt(worst),
                     ("inf" if math.isinf(ratio) else f"{ratio:.3g}") if len(configs) > 1 else "-"])  # fmt: skip
    return rows, problems


def markdown(rows: list[list[str]]) -> str:
    head = ["figure", "bar", "configurations", "smallest", "largest", "spread", "margin", "margin / spread"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, metavar="FIGURES.jsonl")
    ap.add_argument("--markdown", type=Path, metavar="OUT", help="write the table as Markdown")
    ap.add_argument("--min-ratio", type=float, default=3.0, help="smallest margin / spread allowed (default 3)")
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"error: no figures file {', '.join(missing)}; run pytest with SHUFFLENET_FIGURES", file=sys.stderr)
        return 2
    by_name = load(args.files)
    rows, problems = summarise(by_name, args.min_ratio)
    same, different = same_bytes(by_name)
    problems += different
    configs = sorted({d["config"] for ds in by_name.values() for d in ds})
    print(
        f"{len(rows)} figures and {len(same) + len(different)} files in {len(configs)} configurations "
        f"({', '.join(configs)}); {len(same)} files byte-identical in all"
    )
    if args.markdown:
        args.markdown.write_text(markdown(rows))
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(f"every figure keeps a margin of at least {args.min_ratio:g}x its spread")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
