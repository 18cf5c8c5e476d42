"""Export benchmark: time the export of several variants and the host latency of what it wrote.

``python -m shufflenet.benchmarks.host_latency.export_bench [--variants ...] [--output results/export_bench]``
exports each variant (random init, 224x224 unless it is a small-stem one) to every format, records the time of each
step, file sizes and the host latency of every ONNX/TFLite file (``shufflenet.benchmarks.host_latency.host``), and
writes JSON and Markdown after every variant, so a stopped run keeps what it measured and ``--resume`` goes on from
there. Ratios (int8 vs float32 latency and size, TFLite vs ONNX) are taken within one variant's measurements,
made back to back, so the noisy shared machine affects both sides alike.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.host_latency.host import HostConfig, run_host
from shufflenet.benchmarks.reports.results import read_previous_run
from shufflenet.export.pipeline import ExportConfig, run_export
from shufflenet.model.cli_common import CliParser, run_cli
from shufflenet.model.files import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

OFFICIAL_VARIANTS = (
    *(f"shufflenet_v1_g{g}_{w}x" for g in (3, 8) for w in ("0.5", "1.0", "1.5", "2.0")),
    "shufflenet_v1_g3_0.25x",
)


@dataclass
class VariantBench:
    arch: str
    ok: bool
    export_seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def bench_variant(arch: str, workdir: Path, runs: int, formats: tuple[str, ...]) -> VariantBench:
    out = workdir / arch
    try:
        result = run_export(ExportConfig(output=out, arch=arch, random_init=True, formats=formats))
    except Exception as e:  # a failing variant is a result of this benchmark, not its end
        log.error("%s: export failed: %s", arch, e)
        return VariantBench(arch=arch, ok=False, error=str(e).splitlines()[0])
    vb = VariantBench(arch=arch, ok=True, export_seconds=result.seconds, step_seconds=result.step_seconds)
    report = run_host(HostConfig(artifacts=out, runtimes=["onnxruntime", "litert"], threads=[1], warmup=3,
                                 runs=runs, repeats=2, clock="cpu"))  # fmt: skip
    latency = {(r.path, r.runtime): r.median_ms for r in report.results if r.median_ms is not None}
    for e in result.manifest["artifacts"]:
        row = {"path": e["path"], "format": e["format"], "precision": e["precision"], "size_bytes": e["size_bytes"],
               "psnr_db": e["parity"]["psnr_db"], "median_ms": latency.get((e["path"], e["runtime"]))}  # fmt: skip
        vb.files.append(row)
    return vb


def ratios(vb: VariantBench) -> dict[str, float | None]:
    by = {(f["format"], f["precision"], f["path"].endswith(".sim.onnx")): f for f in vb.files}
    f32, i8 = by.get(("tflite", "fp32", False)), by.get(("tflite", "int8", False))
    onnx = by.get(("onnx", "fp32", True))

    def div(a: float | None, b: float | None) -> float | None:
        return None if not a or not b else a / b

    return {
        "int8_vs_fp32_latency": div(i8 and i8["median_ms"], f32 and f32["median_ms"]),
        "int8_vs_fp32_size": div(i8 and i8["size_bytes"], f32 and f32["size_bytes"]),
        "tflite_fp32_vs_onnx_latency": div(f32 and f32["median_ms"], onnx and onnx["median_ms"]),
    }


def markdown(benches: list[VariantBench]) -> str:
    lines = ["| variant | export s | ONNX ms | TFLite fp32 ms | TFLite int8 ms | int8/fp32 latency | int8/fp32 size |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for vb in benches:
        if not vb.ok:
            lines.append(f"| {vb.arch} | failed: {vb.error} | | | | | |")
            continue
        by = {(f["format"], f["precision"], f["path"].endswith(".sim.onnx")): f for f in vb.files}
        r = ratios(vb)

        def ms(key: tuple[str, str, bool], by: dict = by) -> str:
            v = by.get(key, {}).get("median_ms")
            return "-" if v is None else f"{v:.2f}"

        def x(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}x"

        lines.append(f"| {vb.arch} | {vb.export_seconds:.0f} | {ms(('onnx', 'fp32', True))} | "
                     f"{ms(('tflite', 'fp32', False))} | {ms(('tflite', 'int8', False))} | "
                     f"{x(r['int8_vs_fp32_latency'])} | {x(r['int8_vs_fp32_size'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_results(output: Path, benches: list[VariantBench]) -> None:
    write_json_atomic(output.with_suffix(".json"), [{**vb.__dict__, "ratios": ratios(vb) if vb.ok else None}
                                                    for vb in benches])  # fmt: skip
    write_text_atomic(output.with_suffix(".md"), markdown(benches))


def load_done(path: Path) -> dict[str, VariantBench]:
    """The variants an earlier run of this benchmark measured successfully."""
    rows = read_previous_run(path) or []
    fields = VariantBench.__dataclass_fields__
    return {r["arch"]: VariantBench(**{k: v for k, v in r.items() if k in fields}) for r in rows if r.get("ok")}


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="python -m shufflenet.benchmarks.host_latency.export_bench", description=__doc__)
    p.add_argument("--variants", nargs="+", default=list(OFFICIAL_VARIANTS))
    p.add_argument("--formats", nargs="+", default=["onnx", "tflite", "coreml"])
    p.add_argument("--runs", type=int, default=20, help="timed runs per file and repeat")
    p.add_argument("--output", type=Path, default=Path("results/export_bench"), help="writes OUTPUT.json and .md")
    p.add_argument("--resume", action="store_true", help="keep the variants OUTPUT.json already has as succeeded")
    args = p.parse_args(argv)

    def body() -> int:
        done = load_done(args.output.with_suffix(".json")) if args.resume else {}
        benches: list[VariantBench] = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, arch in enumerate(args.variants, 1):
                if arch in done:
                    print(f"[{i}/{len(args.variants)}] {arch}: kept from the earlier run", file=sys.stderr)
                    benches.append(done[arch])
                    continue
                print(f"[{i}/{len(args.variants)}] {arch}", file=sys.stderr, flush=True)
                benches.append(bench_variant(arch, Path(tmp), args.runs, tuple(args.formats)))
                write_results(args.output, benches)
        write_results(args.output, benches)
        print(markdown(benches))
        print(json.dumps({vb.arch: ratios(vb) for vb in benches if vb.ok}, indent=1))
        return 0 if all(vb.ok for vb in benches) else 1

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
