"""`shufflenet-eval`: top-1/top-5 of a checkpoint or of every exported file, on a labelled image folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shufflenet.benchmarks.parity.arm64_options import add_arguments
from shufflenet.model.cli_common import (
    CliParser,
    check_output_file,
    library_output_beside,
    require_path,
    run_cli,
)

# The evaluation modules (torch, runtimes) are imported in main's body, after the arguments are checked.


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-eval", description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a checkpoint (official or shufflenet-train)")
    src.add_argument("--artifacts", type=Path, help="an export folder (every file in its manifest)")
    p.add_argument("--arch", help="with --checkpoint: the variant it must load into")
    p.add_argument("--weights", type=Path,
                   help="with --artifacts: the export's checkpoint, when its recorded path is gone")  # fmt: skip
    p.add_argument("--data", type=Path, required=True, help="labelled images, <root>/<class>/*.jpg")
    formats = ["onnx", "tflite", "coreml", "executorch"]
    p.add_argument("--formats", nargs="+", choices=formats, help="only these formats")
    p.add_argument("--limit", type=int, default=0, help="a deterministic random subset of this many images")
    p.add_argument("--json", type=Path, help="write the results here as a JSON list")
    p.add_argument("--verbose", action="store_true",
                   help="show the libraries' own output (else in ARTIFACTS.eval.log)")  # fmt: skip
    add_arguments(p)
    p.add_argument("--precisions", nargs="+", choices=["fp32", "fp16", "fp16-arith", "int8"],
                   help="with --runtime litert-arm64: only the .tflite files of these precisions")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        require_path("--checkpoint", args.checkpoint, "file", "pass the path of a .pth/.pt/.mdl checkpoint file")
        require_path("--artifacts", args.artifacts, "folder", "pass the --output folder of shufflenet-export")
        require_path("--data", args.data, "folder", "pass a folder laid out as <root>/<class>/*.jpg")
        require_path("--weights", args.weights, "file", "pass the checkpoint the export was made from")
        if args.weights and not args.artifacts:
            raise ValueError("--weights stands in for an export's checkpoint; with --checkpoint pass the file there")
        check_output_file("--json", args.json)  # found now, not after the evaluation
        if args.limit < 0:
            raise ValueError(f"--limit {args.limit}: pass 0 (every image) or a positive number")
        if args.runtime == "litert-arm64":
            if not args.artifacts:
                raise ValueError("--runtime litert-arm64 evaluates an export; pass --artifacts DIR")
            from shufflenet.benchmarks.accuracy.arm64_accuracy import main_eval

            return main_eval(args)
        from shufflenet.benchmarks.accuracy.evaluate import (
            evaluate_artifacts,
            evaluate_checkpoint,
            format_table,
        )
        from shufflenet.model.files import write_json_atomic

        if args.checkpoint:
            results = [evaluate_checkpoint(args.checkpoint, args.data, args.arch, args.limit)]
        else:
            # TensorFlow (loaded with coremltools) prints its start-up lines on file descriptor 2: into the log.
            with library_output_beside(args.artifacts, "eval", args.verbose) as terminal:
                say = lambda m: print(m, file=terminal, flush=True)  # noqa: E731
                formats = tuple(args.formats or ())
                results = evaluate_artifacts(args.artifacts, args.data, formats, args.limit, say, weights=args.weights)
        print(format_table(results))
        if args.json:
            write_json_atomic(args.json, [r.to_dict() for r in results])
        return 0

    # CheckpointError, DatasetError and ManifestError are ValueErrors.
    return run_cli(body, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
