"""`shufflenet-parity`: compare every file of an export folder with the PyTorch model it came from.

Each file (ONNX raw and simplified, TFLite float32 / float16-weights / int8, Core ML programs) runs on real
images through its own declared preprocessing, layout, dtype and quantisation; its outputs are compared with
PyTorch float32's. A .tflite compiled for a Qualcomm NPU runs on Qualcomm's HTP emulator (ONNX Runtime's QNN
execution provider, CPU fallback off) and is also compared with the CPU .tflite it was compiled from.
Exit status: 0 when every file passes its precision's thresholds, 1 when one fails
(the report says which file, which metric, by how much), 2 on an unusable folder, image folder or manifest.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from shufflenet.benchmarks.parity.arm64_options import add_arguments
from shufflenet.benchmarks.parity.parity_defaults import (
    DEFAULT_IMAGE_LIMIT,
    DEFAULT_MAX_DROP_DB,
    DEFAULT_MIN_PSNR,
    DEFAULT_MIN_TOP1,
    DEFAULT_NPU_MAX_REL,
    DEFAULT_NPU_MAX_STEPS,
    PRECISIONS,
)
from shufflenet.model.cli_common import (
    CliParser,
    check_output_file,
    library_output_beside,
    require_path,
    run_cli,
)

# The parity modules (torch, TensorFlow, the runtimes) are imported in main's body, after the arguments are checked.


def _fraction(text: str) -> float:
    """A top-1 bar as a fraction (1.0) or a percentage (100 / 100%)."""
    try:
        v = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 1.0 or 100%)") from None
    v = v / 100 if text.endswith("%") or v > 1 else v
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1 (or 0 and 100 %)")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-parity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "--artifacts", type=Path, required=True, metavar="DIR", help="export folder (shufflenet-export --output)"
    )
    p.add_argument(
        "--images", type=Path, metavar="DIR", help="folder of images (default: the install's own sample photos)"
    )
    p.add_argument("--limit", type=int, default=DEFAULT_IMAGE_LIMIT, metavar="N",
                   help=f"at most N images of --images, or of the install's photos (default {DEFAULT_IMAGE_LIMIT})"
                   )  # fmt: skip
    p.add_argument(
        "--weights", type=Path, metavar="PATH", help="the export's checkpoint, when its recorded path is gone"
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the figures as JSON (one object per file)")
    p.add_argument("--markdown", type=Path, metavar="OUT", help="write a Markdown report")
    for prec in PRECISIONS:
        p.add_argument(f"--min-psnr-{prec}", type=float, default=DEFAULT_MIN_PSNR[prec], metavar="DB",
                       help=f"PSNR bar for {prec} files (default {DEFAULT_MIN_PSNR[prec]:g} dB)")  # fmt: skip
    for prec in PRECISIONS:
        p.add_argument(f"--min-top1-{prec}", type=_fraction, default=DEFAULT_MIN_TOP1[prec], metavar="FRAC",
                       help=f"top-1 agreement bar for {prec} files (default {DEFAULT_MIN_TOP1[prec]:g})")  # fmt: skip
    p.add_argument("--npu-max-steps", type=int, default=DEFAULT_NPU_MAX_STEPS, metavar="N",
                   help="an int8 NPU file (on the HTP emulator) may differ from its CPU .tflite by this many quantized "
                   "steps (default: twice the steps the CPU file differs from PyTorch on the same images)")  # fmt: skip
    p.add_argument("--npu-max-rel", type=float, default=DEFAULT_NPU_MAX_REL, metavar="F",
                   help="a float NPU file may differ from its CPU .tflite by this fraction of the largest output "
                   f"(default {DEFAULT_NPU_MAX_REL:g})")  # fmt: skip
    p.add_argument("--per-layer", action="store_true",
                   help="also compare the int8 TFLite file with the float32 one op by op")  # fmt: skip
    p.add_argument("--per-layer-images", type=int, default=16, metavar="N", help="images for --per-layer (default 16)")
    p.add_argument("--max-layer-drop", type=float, default=DEFAULT_MAX_DROP_DB, metavar="DB",
                   help=f"mark the first op losing this much PSNR (default {DEFAULT_MAX_DROP_DB:g} dB)")  # fmt: skip
    p.add_argument("--no-macos", action="store_true", help="on macOS, skip the MLModel.predict cross-check")
    p.add_argument("--verbose", action="store_true",
                   help="show the libraries' own output (else in ARTIFACTS.parity.log)")  # fmt: skip
    add_arguments(p)
    p.add_argument("--x86-max-rel", type=float, default=1e-5, metavar="F",
                   help="litert-arm64: float gap to x86 LiteRT over the largest output (default 1e-5)")  # fmt: skip
    p.add_argument("--x86-max-rel-fp16", type=float, default=0.02, metavar="F",
                   help="litert-arm64: the same gap where a CPU model computes a float16-arithmetic file in float16 "
                   "(default 0.02)")  # fmt: skip
    p.add_argument("--x86-max-steps", type=int, default=0, metavar="N",
                   help="litert-arm64: largest int8 output gap to x86 LiteRT, quantized steps (default 0)")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def body() -> int:
        if args.limit < 1 or args.per_layer_images < 1:
            raise ValueError("--limit and --per-layer-images must be at least 1")
        require_path("--artifacts", args.artifacts, "folder", "pass the --output folder of shufflenet-export")
        require_path("--images", args.images, "folder", "pass a folder of image files")
        require_path("--weights", args.weights, "file", "pass the checkpoint the export was made from")
        check_output_file("--json", args.json)  # found now, not after every file was run
        check_output_file("--markdown", args.markdown)
        from shufflenet.benchmarks.parity.parity_report import Thresholds, run_parity
        from shufflenet.model.files import write_json_atomic, write_text_atomic

        thresholds = Thresholds(
            min_psnr_db={p: getattr(args, f"min_psnr_{p.replace('-', '_')}") for p in PRECISIONS},
            min_top1={p: getattr(args, f"min_top1_{p.replace('-', '_')}") for p in PRECISIONS},
            npu_max_steps=args.npu_max_steps,
            npu_max_rel=args.npu_max_rel,
        )
        if args.runtime == "litert-arm64":
            from shufflenet.benchmarks.parity.arm64_parity import main_parity

            return main_parity(args, thresholds, lambda m: print(m, file=sys.stderr, flush=True))
        # TensorFlow (loaded with coremltools) prints its start-up lines on file descriptor 2: into the log.
        with library_output_beside(args.artifacts, "parity", args.verbose) as terminal:
            report = run_parity(
                args.artifacts,
                images_dir=args.images,
                thresholds=thresholds,
                weights=args.weights,
                limit=args.limit,
                macos=False if args.no_macos else None,
                per_layer=args.per_layer,
                per_layer_images=args.per_layer_images,
                max_layer_drop_db=args.max_layer_drop,
                say=lambda m: print(m, file=terminal, flush=True),
            )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(args.json, report.to_json())
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(args.markdown, report.to_markdown())
        print(report.to_text())
        return 0 if report.passed else 1

    # ManifestError, CheckpointError, CalibrationError, ParityError and SourceError are ValueErrors.
    return run_cli(body, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
