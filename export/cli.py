"""`shufflenet-export`: a thin command line over ``shufflenet.export.pipeline.run_export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shufflenet.export.arguments import FORMATS, check_input_paths
from shufflenet.export.output_dir import check_output
from shufflenet.model.cli_common import (
    CliParser,
    StepProgress,
    library_output,
    log_file_beside,
    run_cli,
    size_argument,
    text_table,
)
from shufflenet.model.files import missing_folders, remove_empty_folders


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-export", description=__doc__)
    p.add_argument("--arch", help="registry variant (default: the embedded trained model)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--weights", type=Path, help="checkpoint (official Megvii file or shufflenet-train output)")
    w.add_argument("--random-init", action="store_true", help="export untrained weights (seeded)")
    p.add_argument("--format", nargs="+", default=["all"], choices=[*FORMATS, "all"], help="formats to write")
    p.add_argument("--precision", help="comma list of fp32,fp16,fp16-arith,int8 (default: per format)")
    p.add_argument("--input-size", type=size_argument, help="H or HxW (default: the variant's)")
    p.add_argument("--calib", type=Path, help="folder of images for int8 calibration (default: install photos)")
    p.add_argument("--calib-limit", type=int, default=300, help="at most this many calibration images")
    p.add_argument("--labels", type=Path, help="class names, one per line (or the ImageNet classes.tsv)")
    p.add_argument("--dynamic-batch", action="store_true", help="ONNX files with a dynamic batch axis")
    p.add_argument(
        "--npu",
        metavar="VENDOR:SOCS",
        help="also compile the .tflite files ahead of time for these NPUs: qualcomm:SM8650,SM8750 or qualcomm:all "
        "(int8, and float where the SoC's HTP has float; needs shufflenet-mobile[npu])",
    )
    p.add_argument("--no-parity", action="store_true", help="skip the parity check after export")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="show library logs (default: OUTPUT.export.log)")
    p.add_argument(
        "--output",
        type=Path,
        help="output folder; an existing one is replaced at the end only if it is a previous export of this tool "
        "(else refused). Default: a new folder artifacts/NAME (NAME: --arch, the --weights file's name, or "
        "'export'; NAME-2, NAME-3 ... where that one exists)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="--output exists and is not a previous export: rename it aside to OUTPUT.bak-DATE (nothing is deleted)",
    )
    return p


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _sig(ios: list[dict[str, Any]]) -> str:
    parts = []
    for d in ios:
        shape = "x".join(str(s) for s in d["shape"]) if d.get("shape") else "?"
        q = d.get("quantization")
        qs = f" q({q['scale']:.4g},{q['zero_point']})" if q else ""
        parts.append(f"{d['dtype']}[{shape}]{' ' + d['layout'] if d.get('layout') else ''}{qs}")
    return ", ".join(parts)


def summary_table(manifest: dict[str, Any]) -> str:
    from shufflenet.export.formats.delegation import coverage_cell
    from shufflenet.export.formats.npu_qualcomm import ops_cell

    rows = [("file", "format", "precision", "size", "input", "output", "parity vs PyTorch", "XNNPACK nodes", "NPU")]
    for e in manifest["artifacts"]:
        par = e.get("parity")
        ps = "-"
        if par and par.get("nonfinite"):
            ps = f"FAIL: {par['nonfinite']} outputs inf/NaN (overflow)"
        elif par:
            psnr = par.get("psnr_db")  # JSON null: identical outputs, an infinite PSNR
            db = "inf" if psnr is None or psnr == float("inf") else f"{psnr:.1f}"
            ps = f"PSNR {db} dB, top-1 {par['top1_agreement'] * 100:.0f} %"
            by = par.get("evaluated_by") or ""
            if "arithmetic on" in by:  # a float16-arithmetic file computed in float32 on this host: say so
                ps += f" ({by.split('(', 1)[1].rstrip(')')})"
        rows.append((e["path"], e["format"], e["precision"], _mb(e["size_bytes"]), _sig(e["inputs"]),
                     _sig([o for o in e["outputs"] if o.get("shape")]) or e["outputs"][0]["name"], ps,
                     coverage_cell(e.get("delegate_coverage")) if e["format"] in ("tflite", "executorch") else "-",
                     ops_cell(e["npu"]) if e.get("npu") else "-"))  # fmt: skip
    lines = text_table(rows)
    return "\n".join(lines)


def overflow_lines(manifest: dict[str, Any]) -> list[str]:
    """One line per exported file whose parity outputs were inf or NaN (a failure of that file)."""
    lines = []
    for e in manifest["artifacts"]:
        n = (e.get("parity") or {}).get("nonfinite")
        if n:
            lines.append(
                f"{e['path']}: {n} outputs are inf or NaN: overflow (the logits exceed the range of its "
                f"{e['precision']} numbers, e.g. float16's 65504); the model's outputs are too large: retrain it "
                "(it may have diverged)"
            )
    return lines


DEFAULT_OUTPUT_ROOT = Path("artifacts")


def default_output(arch: str | None, weights: Path | None) -> Path:
    """A folder that does not exist yet: ``artifacts/NAME`` or ``artifacts/NAME-2`` ... (NAME: the variant asked
    for, the weights file's name, or ``export``), so that an export without --output never meets, and is never
    refused by, a folder that is already there (``make demo``'s artifacts/default, another export)."""
    name = arch or (Path(weights).stem if weights else "export")
    candidate, n = DEFAULT_OUTPUT_ROOT / name, 2
    while candidate.exists() or candidate.is_symlink():
        candidate, n = DEFAULT_OUTPUT_ROOT / f"{name}-{n}", n + 1
    return candidate


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.output is None:
        args.output = default_output(args.arch, args.weights)

    made = missing_folders(args.output.absolute().parent)  # what a refused export must not leave behind

    def body() -> int:
        try:
            return export()
        except (ValueError, OSError, KeyboardInterrupt):  # Ctrl-C and SIGTERM too: nothing was made
            remove_empty_folders(made)
            raise

    def export() -> int:
        # Every path is checked before torch or TensorFlow is imported (seconds of start-up).
        check_input_paths(args.weights, args.calib, args.labels)
        check_output(args.output, args.force)
        if args.calib_limit < 1:
            raise ValueError(f"--calib-limit {args.calib_limit}: pass a positive number of images")
        if args.npu is not None:
            # No heavy import: the SoC list, and what each SoC would get, are checked here.
            from shufflenet.export.formats.npu_qualcomm import check_precisions, parse_npu

            request = parse_npu(args.npu)
            if "all" not in args.format and "tflite" not in args.format:
                raise ValueError(f"--npu {args.npu} compiles the .tflite files; add tflite to --format")
            if args.precision:
                check_precisions(request, tuple(p.strip() for p in args.precision.split(",") if p.strip()), args.npu)
        if "executorch" in args.format:  # asked for by name: stop now, before torch loads, when it is not installed
            import importlib.util

            if importlib.util.find_spec("executorch") is None:
                raise ValueError(
                    "--format executorch needs ExecuTorch, which is not installed; run "
                    "`pip install 'shufflenet-mobile[executorch]'` (hash-locked in requirements-executorch.lock; "
                    "`make install` does it)"
                )
        from shufflenet.export.pipeline import ExportConfig, run_export

        formats = FORMATS if "all" in args.format else tuple(dict.fromkeys(args.format))
        precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip()) if args.precision else None
        cfg = ExportConfig(
            output=args.output,
            arch=args.arch,
            weights=args.weights,
            random_init=args.random_init,
            seed=args.seed,
            formats=formats,
            precisions=precisions,
            input_size=args.input_size,
            calib=args.calib,
            calib_limit=args.calib_limit,
            dynamic_batch=args.dynamic_batch,
            labels=args.labels,
            parity=not args.no_parity,
            force=args.force,
            npu=args.npu,
        )
        log_path = log_file_beside(args.output, "export")
        # A refused or interrupted export (Ctrl-C, SIGTERM) leaves nothing, not even its log; a crash keeps the log.
        with library_output(log_path, args.verbose, discard_on=(ValueError, OSError, KeyboardInterrupt)) as terminal:
            progress = StepProgress(terminal)
            try:
                result = run_export(cfg, progress=progress)
            finally:
                progress.close()
        m = result.manifest
        src = m["source"]
        origin = src["kind"] + (f", {src['path']}" if src.get("path") else "")
        size = "x".join(map(str, m["input_size"]))
        print(f"{m['arch']} at {size} ({origin}) -> {result.output}/  [{result.seconds:.0f} s]")
        print(summary_table(m))
        bad = [e["path"] for e in m["artifacts"] if not e.get("graph_check", {"ok": True})["ok"]]
        if bad:
            print(f"warning: TFLite graph checks failed for {', '.join(bad)} (see manifest graph_check)")
        if not args.verbose:
            print(f"library logs: {log_path}")
        overflow = overflow_lines(m)
        for line in overflow:
            print(f"error: {line}", file=sys.stderr)
        return 1 if overflow else 0

    # ExportError, CheckpointError, CalibrationError and OutputError are ValueErrors.
    return run_cli(body, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
