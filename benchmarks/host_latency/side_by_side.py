"""Side by side on this host: TFLite float32, TFLite int8, ONNX Runtime, Google's litert-torch file and ExecuTorch.

``python -m shufflenet.benchmarks.host_latency.side_by_side [--variants ...] [--threads 1,2] [--output
docs/results/side_by_side]`` exports each variant at 224x224 (random init: latency does not depend on the values)
with ``shufflenet-export``'s pipeline to ONNX and TFLite float32 + int8, converts the same network with litert-torch
(``host_latency.peer``, in the Python given by ``--peer-python``), and times the files with the project's timing
function (``host.measure``) through the same runners as ``shufflenet-bench host``. With the ``executorch`` extra
installed it adds the export's ExecuTorch .pte files (float32 and int8, rewritten: one XNNPACK subgraph) and the
float32 .pte a user gets from ``torch.export`` + the XNNPACK partitioner without the rewrites (``as exported``), so
the rewrites' gain is measured in the same rounds. For each thread count the files are timed in turns, ``--rounds``
times, and each keeps the median of its rounds, so a slow spell of the shared machine lands on all of them alike.
One thread is timed on the thread's CPU clock (the machine is shared; see ``host``), two threads on the wall clock.
Results (JSON and Markdown) are written after every variant; ``--resume`` keeps the variants already measured.

Targets: int8 / float32 <= 1.0 at one thread, TFLite float32 / ONNX Runtime <= 1.0, and this project's
files faster than litert-torch's on every row."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.benchmarks.host_latency.host import make_input, measure
from shufflenet.benchmarks.host_latency.machine import host_environment
from shufflenet.benchmarks.reports.results import read_previous_run
from shufflenet.model.cli_common import positive_ints, run_cli
from shufflenet.model.files import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

VARIANTS = ("shufflenet_v1_g3_0.5x", "shufflenet_v1_g3_1.0x", "shufflenet_v1_g3_2.0x", "shufflenet_v1_g8_1.0x")
SIZE = (224, 224)
FILES = ("tflite_fp32", "tflite_int8", "onnxruntime", "litert_torch", "executorch_fp32", "executorch_int8",
         "executorch_fp32_as_exported")  # fmt: skip
LABELS = {"tflite_fp32": "TFLite fp32", "tflite_int8": "TFLite int8", "onnxruntime": "ONNX Runtime",
          "litert_torch": "litert-torch fp32", "executorch_fp32": "ExecuTorch fp32",
          "executorch_int8": "ExecuTorch int8",
          "executorch_fp32_as_exported": "ExecuTorch fp32 as exported"}  # fmt: skip


@dataclass
class Row:
    """One variant at one thread count: median latency (ms) of each file over the rounds."""

    threads: int
    clock: str
    ms: dict[str, float | None]
    rounds_ms: dict[str, list[float]]
    noisy: dict[str, bool]

    def ratio(self, a: str, b: str) -> float | None:
        x, y = self.ms.get(a), self.ms.get(b)
        return None if not x or not y else x / y


@dataclass
class VariantResult:
    arch: str
    ok: bool
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> path, ops, TRANSPOSE, coverage, size
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _file_facts(path: Path) -> dict[str, Any]:
    from shufflenet.export.formats.tflite_export import inspect_tflite

    info = inspect_tflite(path)
    return {"path": path.name, "size_bytes": path.stat().st_size, "ops": sum(info.op_histogram.values()),
            "transpose": info.op_histogram.get("TRANSPOSE", 0), "max_rank": info.max_rank,
            "coverage": info.coverage.to_dict() if info.coverage else None,
            "inputs": info.inputs, "outputs": info.outputs}  # fmt: skip


def prepare(arch: str, work: Path, peer_python: str | None, seed: int = 0) -> tuple[dict[str, dict], Path, list[str]]:
    """Export the variant and convert the peer; (manifest-style entries by key, export folder, errors)."""
    from shufflenet.benchmarks.host_latency.peer import PeerUnavailableError, convert_peer
    from shufflenet.export.pipeline import ExportConfig, run_export

    out = work / arch
    pte = executorch_installed()
    formats = ("onnx", "tflite", "executorch") if pte else ("onnx", "tflite")
    cfg = ExportConfig(output=out, arch=arch, random_init=True, seed=seed, formats=formats,
                       precisions=("fp32", "int8"), input_size=SIZE, parity=False)  # fmt: skip
    result = run_export(cfg)
    manifest = result.manifest
    entries: dict[str, dict] = {}
    for e in manifest["artifacts"]:
        e = {**e, "preprocessing": manifest["preprocessing"]}
        if e["format"] in ("tflite", "executorch"):
            entries[f"{e['format']}_{e['precision']}"] = e
        elif e["format"] == "onnx" and e["variant"] == "simplified":
            entries["onnxruntime"] = e
    errors = []
    if pte:
        entries["executorch_fp32_as_exported"] = as_exported_pte(cfg, out, manifest["preprocessing"])
    else:
        errors.append("ExecuTorch columns empty: the executorch extra is not installed (pip install "
                      "'shufflenet-mobile[executorch]')")  # fmt: skip
    try:
        peer = convert_peer(arch, SIZE, out / f"{arch}_litert_torch_float32.tflite", peer_python, seed)
        facts = _file_facts(peer)
        inputs = [{**facts["inputs"][0], "layout": "NCHW"}]  # the PyTorch module's own layout
        entries["litert_torch"] = {"format": "tflite", "precision": "fp32", "path": peer.name, "runtime": "litert",
                                   "inputs": inputs, "outputs": facts["outputs"],
                                   "preprocessing": manifest["preprocessing"]}  # fmt: skip
    except PeerUnavailableError as e:
        errors.append(str(e))
        log.error("%s", e)
    return entries, out, errors


def executorch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("executorch") is not None


def as_exported_pte(cfg: Any, folder: Path, preprocessing: dict[str, Any]) -> dict[str, Any]:
    """The float32 .pte of the same network (same seed) lowered as ``torch.export`` sees it, without the export's
    rewrites: what a user gets from ExecuTorch's XNNPACK flow as documented. Written beside the export's files."""
    from shufflenet.export.formats.executorch_export import lower_to_pte, pte_filename, pte_signature
    from shufflenet.export.pipeline import resolve_model

    model, variant, _ = resolve_model(cfg)
    lowered = lower_to_pte(model, SIZE, "fp32", rewrite=False)
    path = folder / pte_filename(variant.name, "fp32", rewritten=False)
    path.write_bytes(lowered.buffer)
    ins, outs = pte_signature(SIZE, variant.num_classes)
    return {"format": "executorch", "precision": "fp32", "variant": "as exported", "path": path.name,
            "runtime": "executorch", "size_bytes": path.stat().st_size, "inputs": ins, "outputs": outs,
            "delegate_coverage": lowered.coverage.to_dict(), "op_histogram": lowered.op_histogram,
            "preprocessing": preprocessing}  # fmt: skip


def _pte_facts(entry: dict[str, Any]) -> dict[str, Any]:
    """The table's facts of a .pte file: its edge graph's compute nodes, permutes and XNNPACK coverage."""
    cov = entry.get("delegate_coverage") or {}
    hist = entry.get("op_histogram") or {}
    return {"path": entry["path"], "size_bytes": entry["size_bytes"], "ops": cov.get("nodes"),
            "transpose": hist.get("permute_copy", 0), "max_rank": None, "coverage": cov}  # fmt: skip


def time_files(
    entries: dict[str, dict], folder: Path, threads: int, rounds: int, warmup: int, runs: int, repeats: int
) -> Row:
    from shufflenet.export.runtimes.loader import load_runner

    clock = "cpu" if threads == 1 else "wall"
    runners = {k: load_runner(folder, entries[k], threads) for k in FILES if k in entries}
    inputs = {k: make_input(entries[k]["inputs"][0]) for k in runners}
    per: dict[str, list[float]] = {k: [] for k in runners}
    noisy: dict[str, bool] = {k: False for k in runners}
    for _ in range(rounds):
        for k, runner in runners.items():
            r = measure(lambda r=runner, x=inputs[k]: r.run_raw(x), warmup=warmup, runs=runs, repeats=repeats,
                        clock=clock, threads=threads, target="host", runtime=entries[k]["runtime"],
                        format=entries[k]["format"], precision=entries[k]["precision"], path=entries[k]["path"],
                        delegate="xnnpack" if entries[k]["format"] == "tflite" else "cpu")  # fmt: skip
            per[k].append(float(r.median_ms))
            noisy[k] = noisy[k] or bool(r.noisy)
    ms: dict[str, float | None] = {k: (float(np.median(per[k])) if k in per else None) for k in FILES}
    return Row(threads=threads, clock=clock, ms=ms, rounds_ms=per, noisy=noisy)


def bench_variant(arch: str, work: Path, args: argparse.Namespace) -> VariantResult:
    try:
        entries, folder, errors = prepare(arch, work, args.peer_python)
    except Exception as e:  # a failing variant is a result of this benchmark, not its end
        log.error("%s: export failed: %s", arch, e)
        return VariantResult(arch=arch, ok=False, errors=[str(e).splitlines()[0]])
    vr = VariantResult(arch=arch, ok=True, errors=errors)
    for k in ("tflite_fp32", "tflite_int8", "litert_torch"):
        if k in entries:
            facts = _file_facts(folder / entries[k]["path"])
            vr.files[k] = {x: facts[x] for x in ("path", "size_bytes", "ops", "transpose", "max_rank", "coverage")}
    for k in ("executorch_fp32", "executorch_int8", "executorch_fp32_as_exported"):
        if k in entries:
            vr.files[k] = _pte_facts(entries[k])
    vr.files["onnxruntime"] = {
        "path": entries["onnxruntime"]["path"],
        "size_bytes": entries["onnxruntime"]["size_bytes"],
    }
    for t in args.threads:
        print(f"  {arch}: timing at {t} thread(s)", file=sys.stderr, flush=True)
        vr.rows.append(time_files(entries, folder, t, args.rounds, args.warmup, args.runs, args.repeats))
    return vr


# --- report -------------------------------------------------------------------------------------------------
def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _x(v: float | None, target_le: float | None = None, strict: bool = False) -> str:
    if v is None:
        return "-"
    missed = target_le is not None and (v >= target_le if strict else v > target_le)
    return f"{v:.2f}" + (" ✗" if missed else "")


def executorch_table(results: list[VariantResult]) -> list[str]:
    """ExecuTorch's rows: the .pte files as exported and rewritten, and against this project's TFLite files."""
    rows = [(vr, row) for vr in results if vr.ok for row in vr.rows if row.ms.get("executorch_fp32")]
    if not rows:
        return []
    lines = ["", "| variant | threads | ExecuTorch fp32 as exported ms | ExecuTorch fp32 ms | ExecuTorch int8 ms | "
             "rewritten / as exported (fp32) | ExecuTorch fp32 / TFLite fp32 | ExecuTorch int8 / TFLite int8 |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for vr, row in rows:
        m = row.ms
        lines.append(
            f"| {vr.arch} | {row.threads} | {_ms(m.get('executorch_fp32_as_exported'))} | "
            f"{_ms(m.get('executorch_fp32'))} | {_ms(m.get('executorch_int8'))} | "
            f"{_x(row.ratio('executorch_fp32', 'executorch_fp32_as_exported'))} | "
            f"{_x(row.ratio('executorch_fp32', 'tflite_fp32'))} | {_x(row.ratio('executorch_int8', 'tflite_int8'))} |"
        )
    return lines


def markdown(results: list[VariantResult], environment: dict[str, Any] | None = None) -> str:
    lines = []
    if environment:
        lines += [f"Host: {environment.get('machine')}. Median of rounds; 1 thread on the thread's CPU clock, "
                  "2 threads on the wall clock. ✗ marks a missed target.", ""]  # fmt: skip
    lines += [
        "| variant | threads | TFLite fp32 ms | TFLite int8 ms | ONNX Runtime ms | litert-torch ms | int8/fp32 "
        "(target <= 1 at 1 thread) | fp32/ORT (<= 1) | fp32/litert-torch (< 1) | int8/litert-torch (< 1) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for vr in results:
        if not vr.ok:
            lines.append(f"| {vr.arch} | failed: {'; '.join(vr.errors)} | | | | | | | | |")
            continue
        for row in vr.rows:
            m = row.ms
            i8 = _x(row.ratio("tflite_int8", "tflite_fp32"), 1.0 if row.threads == 1 else None)
            lines.append(
                f"| {vr.arch} | {row.threads} | {_ms(m.get('tflite_fp32'))} | {_ms(m.get('tflite_int8'))} | "
                f"{_ms(m.get('onnxruntime'))} | {_ms(m.get('litert_torch'))} | {i8} | "
                f"{_x(row.ratio('tflite_fp32', 'onnxruntime'), 1.0)} | "
                f"{_x(row.ratio('tflite_fp32', 'litert_torch'), 1.0, strict=True)} | "
                f"{_x(row.ratio('tflite_int8', 'litert_torch'), 1.0, strict=True)} |"
            )
    lines += executorch_table(results)
    lines += ["", "| variant | file | ops | TRANSPOSE | max rank | XNNPACK nodes, partitions | size MB |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for vr in results:
        for k, f in vr.files.items():
            if "ops" not in f:
                continue
            cov = f.get("coverage") or {}
            part = f"{cov.get('delegated_nodes')}/{cov.get('nodes')}, {cov.get('partitions')}" if cov else "-"
            if cov.get("outside_ops"):
                part += " (outside: " + ", ".join(f"{k} x{v}" for k, v in cov["outside_ops"].items()) + ")"
            rank = f["max_rank"] or "-"  # a .pte file's edge graph is not a list of tensors with ranks
            lines.append(f"| {vr.arch} | {LABELS[k]} | {f['ops']} | {f['transpose']} | {rank} | {part} | "
                         f"{f['size_bytes'] / 1e6:.2f} |")  # fmt: skip
    errors = [f"- {vr.arch}: {e}" for vr in results for e in vr.errors if vr.ok]
    if errors:
        lines += ["", "Errors:", "", *errors]
    return "\n".join(lines) + "\n"


def write_results(output: Path, results: list[VariantResult], environment: dict[str, Any], config: dict) -> None:
    doc = {"environment": environment, "config": config, "variants": [asdict(r) for r in results]}
    write_json_atomic(output.with_suffix(".json"), doc)
    write_text_atomic(output.with_suffix(".md"), markdown(results, environment))


def load_done(path: Path) -> dict[str, VariantResult]:
    doc = read_previous_run(path) or {}
    done = {}
    for v in doc.get("variants", []):
        if v.get("ok"):
            rows = [Row(**r) for r in v.pop("rows", [])]
            done[v["arch"]] = VariantResult(**v, rows=rows)
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shufflenet.benchmarks.host_latency.side_by_side", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--threads", type=positive_ints, default=[1, 2], help="comma list (default 1,2)")
    p.add_argument("--rounds", type=int, default=3, help="turns over the four files (default 3)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--runs", type=int, default=20, help="timed runs per repeat (default 20)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--peer-python", help="Python with litert-torch installed (default $SHUFFLENET_PEER_PYTHON, "
                   "else this one)")  # fmt: skip
    p.add_argument("--output", type=Path, default=Path("docs/results/side_by_side"), help="OUTPUT.json and .md")
    p.add_argument("--resume", action="store_true", help="keep the variants OUTPUT.json already has")
    args = p.parse_args(argv)

    def body() -> int:
        if min(args.rounds, args.runs, args.repeats) < 1 or args.warmup < 0:
            raise ValueError("--rounds, --runs and --repeats must be >= 1, --warmup >= 0")
        from shufflenet.model.registry import get_variant

        for arch in args.variants:
            get_variant(arch)  # an unknown name fails here, before any work
        done = load_done(args.output.with_suffix(".json")) if args.resume else {}
        env = host_environment()
        config = {k: v for k, v in vars(args).items() if k != "output"} | {"input_size": list(SIZE)}
        results: list[VariantResult] = []
        with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
            for i, arch in enumerate(args.variants, 1):
                if arch in done:
                    print(f"[{i}/{len(args.variants)}] {arch}: kept from the earlier run", file=sys.stderr)
                    results.append(done[arch])
                    continue
                print(f"[{i}/{len(args.variants)}] {arch}", file=sys.stderr, flush=True)
                results.append(bench_variant(arch, Path(tmp), args))
                write_results(args.output, results, env, config)
        write_results(args.output, results, env, config)
        print(markdown(results, env))
        return 0 if all(r.ok and not r.errors for r in results) else 1

    return run_cli(body, (ValueError, OSError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
