"""`shufflenet-bench`: latency on an Android device (benchmark_model over adb) or on this host, reports, Table 8.

  shufflenet-bench android --benchmark-model PATH --artifacts DIR [--serial S] [--threads 1,4] ...
  shufflenet-bench host [--artifacts DIR] [--threads 1,2] [--runtimes onnxruntime,litert,executorch,pytorch] ...
  shufflenet-bench profile [--artifacts DIR | --tflite FILE] [--threads 1] [--granularity unit|op] ...
  shufflenet-bench report RESULTS.json [...] [--compare] [--out DIR]
  shufflenet-bench table8 host|android [...]

Each run writes RESULTS.json and, beside it, RESULTS.md, RESULTS.csv, RESULTS_latency.png and
RESULTS_latency_vs_macs.png (all written atomically, and after every finished measurement, so a failure keeps
what was done).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TextIO

from shufflenet.benchmarks.phone_latency.adb import BenchError
from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, write_csv, write_json
from shufflenet.model.cli_common import (
    CliParser,
    check_output_file,
    library_output_beside,
    positive_ints,
    require_path,
    run_cli,
)
from shufflenet.model.files import write_json_atomic, write_text_atomic

OUT_DIR = Path("runs/bench")


def _words(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _timing_args(p: argparse.ArgumentParser, warmup: int, runs: int, repeats: int) -> None:
    p.add_argument("--warmup", type=int, default=warmup, help=f"untimed runs first (default {warmup})")
    p.add_argument("--runs", type=int, default=runs, help=f"timed runs per repeat (default {runs})")
    p.add_argument("--repeats", type=int, default=repeats, help=f"repeats K of the timed runs (default {repeats})")


def _android_args(p: argparse.ArgumentParser, table8: bool = False) -> None:
    p.add_argument(
        "--benchmark-model",
        type=Path,
        required=table8,
        help="TensorFlow Lite benchmark_model binary for the device (e.g. android_aarch64_benchmark_model)",
    )
    if not table8:
        p.add_argument(
            "--pte-runner",
            type=Path,
            metavar="PATH",
            help="ExecuTorch's executor_runner built for the device with the XNNPACK backend (none ships prebuilt: "
            "see docs/benchmarks.md); the export's .pte files are timed with it",
        )
    p.add_argument("--serial", help="device serial (needed when several are attached)")
    if not table8:
        p.add_argument("--artifacts", type=Path, required=True, help="export folder holding the .tflite files")
        p.add_argument("--files", nargs="+", help="only these files (names relative to --artifacts)")
        p.add_argument("--threads", type=positive_ints, default=[1], help="comma list of thread counts (default 1)")
    p.add_argument(
        "--delegate", type=_words, default=["xnnpack"], help="comma list of cpu,xnnpack,gpu,nnapi (default xnnpack)"
    )
    p.add_argument(
        "--npu-libs",
        type=Path,
        metavar="DIR",
        help="the phone's NPU runtime libraries (LiteRT's libLiteRtDispatch_Qualcomm.so, libLiteRt.so, QNN's "
        "libQnnHtp.so, libQnnSystem.so, libQnnHtpV*Stub.so, libQnnHtpV*Skel.so): pushed to the device, and the "
        "export's NPU files run on the NPU (needs LiteRT's benchmark_model; see docs/npu.md)",
    )
    p.add_argument("--cores", default="big", help="big, little, all or a hex taskset mask (default big)")
    _timing_args(p, 10, 50, 3)
    p.add_argument("--cooldown", type=float, default=10.0, help="seconds to wait between runs (default 10)")
    p.add_argument(
        "--max-warming",
        type=float,
        default=5.0,
        help="flag throttling when a thermal zone rose more than this many °C (default 5)",
    )
    p.add_argument("--op-profiling", action="store_true", help="pass --enable_op_profiling=true")
    p.add_argument("--adb", help="adb executable (default: $ADB, else adb on PATH)")
    p.add_argument("--keep-remote-files", action="store_true", help="leave the pushed files on the device")


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("android", help="time .tflite files on an Android device with benchmark_model")
    _android_args(a)
    a.add_argument("--json", type=Path, default=OUT_DIR / "android.json", help="results file")

    h = sub.add_parser("host", help="time every file of an export folder on this machine")
    h.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="export folder (default artifacts)")
    h.add_argument("--files", nargs="+", help="only these files (names relative to --artifacts)")
    h.add_argument(
        "--runtimes",
        type=_words,
        default=["onnxruntime", "litert", "executorch", "pytorch"],
        help="comma list of onnxruntime,litert,executorch,pytorch (default all)",
    )
    h.add_argument("--threads", type=positive_ints, default=[1], help="comma list of thread counts (default 1)")
    _timing_args(h, 10, 50, 3)
    h.add_argument("--max-seconds", type=float, help="per file and thread count: fewer runs if slower than this")
    h.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall (default): latency as a user sees it; cpu: the timed thread's CPU time, for a machine "
        "shared with other work (single thread only)",
    )
    h.add_argument("--json", type=Path, default=OUT_DIR / "host.json", help="results file")
    h.add_argument("--verbose", action="store_true",
                   help="show the libraries' own output (else in ARTIFACTS.bench.log)")  # fmt: skip

    pr = sub.add_parser("profile", help="latency per network unit (or op) of .tflite files, from prefix models")
    src = pr.add_mutually_exclusive_group()
    src.add_argument("--artifacts", type=Path, help="export folder: profile its .tflite files (default artifacts)")
    src.add_argument("--tflite", type=Path, help="one .tflite file outside an export folder (units unnamed)")
    pr.add_argument("--files", nargs="+", help="only these files of --artifacts")
    pr.add_argument("--arch", help="with --tflite: the registry variant, to name the units (checked against the file)")
    pr.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    pr.add_argument("--granularity", choices=("unit", "op"), default="unit", help="segments (default unit)")
    _timing_args(pr, 5, 30, 2)
    pr.add_argument("--rounds", type=int, default=3, help="rounds over all prefixes; medians (default 3)")
    pr.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        help="cpu (default with --threads 1): the timed thread's CPU time, steady on a busy machine; wall (default "
        "with more threads, which cpu cannot see)",
    )
    pr.add_argument("--json", type=Path, default=OUT_DIR / "profile.json", help="results file (and .md beside it)")

    r = sub.add_parser("report", help="tables and plots from saved results; --compare for speed-ups")
    r.add_argument("results", nargs="+", type=Path, help="results JSON files")
    r.add_argument("--compare", action="store_true", help="speed-up of the second file over the first")
    r.add_argument("--out", type=Path, default=OUT_DIR / "report", help="output folder (default runs/bench/report)")

    t = sub.add_parser("table8", help="the paper's Table 8 (single thread, 3 input sizes) on host or device")
    tsub = t.add_subparsers(dest="where", required=True)
    for where in ("host", "android"):
        tp = tsub.add_parser(where, help=f"Table 8 on the {'host' if where == 'host' else 'device'}")
        tp.add_argument("--models", type=_words, help="comma list of model labels (default all four)")
        tp.add_argument("--sizes", type=_words, help="comma list of HxW (default 224x224,480x640,720x1280)")
        tp.add_argument("--cache", type=Path, default=OUT_DIR / "table8_models", help="exported model files")
        tp.add_argument("--json", type=Path, default=OUT_DIR / f"table8_{where}.json", help="results file")
        if where == "host":
            tp.add_argument(
                "--runtimes",
                type=_words,
                default=["pytorch", "onnxruntime", "litert"],
                help="comma list of pytorch,onnxruntime,litert (default all)",
            )
            _timing_args(tp, 2, 20, 3)
            tp.add_argument(
                "--max-seconds",
                type=float,
                default=20.0,
                help="per model, size and runtime: fewer runs if slower than this (default 20)",
            )
            tp.add_argument(
                "--clock",
                choices=("wall", "cpu"),
                default="wall",
                help="wall (default): latency as a user sees it; cpu: the timed thread's CPU time, for a machine "
                "shared with other work",
            )
        else:
            _android_args(tp, table8=True)
    return p


# --- writing outputs ----------------------------------------------------------------------------------------
def output_paths(json_path: Path) -> dict[str, Path]:
    stem = json_path.with_suffix("")
    return {
        "json": json_path,
        "md": stem.with_suffix(".md"),
        "csv": stem.with_suffix(".csv"),
        "latency_png": stem.parent / f"{stem.name}_latency.png",
        "macs_png": stem.parent / f"{stem.name}_latency_vs_macs.png",
    }


def report_markdown(report: BenchReport, title: str) -> str:
    from shufflenet.benchmarks.host_latency.table8 import table8_markdown
    from shufflenet.benchmarks.reports.results import to_markdown

    parts = []
    if report.kind.startswith("table8"):
        parts.append(table8_markdown(report))
    parts.append(to_markdown(report.results, title=title, environment=report.environment))
    covered = {r.path: r.details["delegate_coverage"] for r in report.results if r.details.get("delegate_coverage")}
    if covered:
        from shufflenet.export.formats.delegation import coverage_cell

        lines = [f"- {p}: {coverage_cell(c)}" for p, c in covered.items()]
        parts.append("XNNPACK coverage (nodes taken / model nodes, partitions; read after delegation):\n\n"
                     + "\n".join(lines) + "\n")  # fmt: skip
    skipped = report.config.get("skipped") or []
    if skipped:
        parts.append("Not timed:\n\n" + "\n".join(f"- {s['path']}: {s['reason']}" for s in skipped) + "\n")
    if report.errors:
        parts.append("Errors:\n\n" + "\n".join(f"- {e}" for e in report.errors) + "\n")
    return "\n".join(parts)


def write_tables(report: BenchReport, json_path: Path, title: str) -> dict[str, Path]:
    """JSON, Markdown and CSV (cheap: written after every measurement)."""
    paths = output_paths(json_path)
    write_json(report, paths["json"])
    write_text_atomic(paths["md"], report_markdown(report, title))
    write_csv(report.results, paths["csv"])
    return paths


def write_all(report: BenchReport, json_path: Path, title: str) -> dict[str, Path]:
    from shufflenet.benchmarks.reports.plots import plot_latency, plot_latency_vs_macs

    paths = write_tables(report, json_path, title)
    plot_latency(report.results, paths["latency_png"], title=title)
    plot_latency_vs_macs(report.results, paths["macs_png"], title=f"{title}: latency against multiply-adds")
    return paths


def _finish(report: BenchReport, paths: dict[str, Path], title: str, err: TextIO | None = None) -> int:
    print(report_markdown(report, title))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    for e in report.errors:
        print(f"error: {e}", file=err or sys.stderr)
    return 1 if report.errors else 0


# --- commands -----------------------------------------------------------------------------------------------
def _android_config(args: argparse.Namespace, artifacts: Path | None = None):
    from shufflenet.benchmarks.phone_latency.android import AndroidConfig

    return AndroidConfig(
        benchmark_model=args.benchmark_model,
        artifacts=artifacts or args.artifacts,
        files=getattr(args, "files", None),
        serial=args.serial,
        threads=getattr(args, "threads", [1]),
        delegates=args.delegate,
        cores=args.cores,
        warmup=args.warmup,
        runs=args.runs,
        repeats=args.repeats,
        cooldown_s=args.cooldown,
        op_profiling=args.op_profiling,
        max_warming_c=args.max_warming,
        adb=args.adb,
        keep_remote_files=args.keep_remote_files,
        npu_libs=getattr(args, "npu_libs", None),
        pte_runner=getattr(args, "pte_runner", None),
    )


def _run_with_partial(run, json_path: Path, title: str, err: TextIO | None = None) -> int:
    """Run a session whose ``save`` callback writes the tables; on a fatal error the plots are still drawn.
    ``err``: the terminal's error stream (default stderr)."""
    last: list[BenchReport] = []

    def save(report: BenchReport) -> None:
        last[:] = [report]
        write_tables(report, json_path, title)

    try:
        report = run(save)
    except BenchError:
        if last:
            write_all(last[0], json_path, title)
            print(f"results so far: {json_path}", file=err or sys.stderr)
        raise
    paths = write_all(report, json_path, title)
    return _finish(report, paths, title, err)


def cmd_android(args: argparse.Namespace) -> int:
    from shufflenet.benchmarks.phone_latency.android import run_android

    cfg = _android_config(args)
    return _run_with_partial(lambda save: run_android(cfg, save=save), args.json, "Android benchmark_model latency")


def cmd_host(args: argparse.Namespace) -> int:
    from shufflenet.benchmarks.host_latency.host import HostConfig, run_host

    cfg = HostConfig(
        artifacts=args.artifacts,
        files=args.files,
        runtimes=args.runtimes,
        threads=args.threads,
        warmup=args.warmup,
        runs=args.runs,
        repeats=args.repeats,
        max_seconds=args.max_seconds,
        clock=args.clock,
    )
    # LiteRT's and TensorFlow's own lines ("INFO: Created TensorFlow Lite XNNPACK delegate ...") go to
    # ARTIFACTS.bench.log beside the export, as the export, parity and evaluation do; the progress stays here.
    with library_output_beside(args.artifacts, "bench", args.verbose) as terminal:
        progress = logging.StreamHandler(terminal)
        progress.setFormatter(logging.Formatter("%(message)s"))
        progress.addFilter(lambda r: r.name.startswith("shufflenet."))
        logging.getLogger().addHandler(progress)
        try:
            return _run_with_partial(lambda save: run_host(cfg, save=save), args.json, "Host latency", terminal)
        finally:
            logging.getLogger().removeHandler(progress)


def cmd_profile(args: argparse.Namespace) -> int:
    if args.threads < 1 or args.rounds < 1 or args.runs < 1 or args.repeats < 1 or args.warmup < 0:
        raise ValueError("--threads, --rounds, --runs and --repeats must be >= 1, --warmup >= 0")
    if args.clock == "cpu" and args.threads != 1:
        raise ValueError("--clock cpu times one thread's CPU time: use it with --threads 1")
    if args.tflite is not None and not args.tflite.is_file():
        raise ValueError(f"{args.tflite} is not a file; pass a .tflite file")

    from shufflenet.benchmarks.host_latency.profile import profile_export, profile_tflite, profiles_markdown

    opts = dict(threads=args.threads, granularity=args.granularity, warmup=args.warmup, runs=args.runs,
                repeats=args.repeats, rounds=args.rounds, clock=args.clock)  # fmt: skip
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.tflite is not None:
        profiles = [profile_tflite(args.tflite, arch=args.arch, say=say, **opts)]
    else:
        profiles = profile_export(args.artifacts or Path("artifacts"), args.files, say=say, arch=args.arch, **opts)
    md = profiles_markdown(profiles)
    write_json_atomic(args.json, [p.to_dict() for p in profiles])
    write_text_atomic(args.json.with_suffix(".md"), md)
    print(md)
    print(f"json: {args.json}\nmd: {args.json.with_suffix('.md')}")
    bad = [p.path for p in profiles if not p.consistent]
    for b in bad:
        print(f"warning: the parts of {b} do not sum to the whole within 10 % (a noisy machine?)", file=sys.stderr)
    for p in profiles:
        if p.noisy:
            print(f"note: {len(p.noisy)} of {len(p.segments)} segments of {p.path} are within the noise "
                  "(shown as < noise)", file=sys.stderr)  # fmt: skip
    return 0


def _table8_config(args: argparse.Namespace):
    from shufflenet.benchmarks.host_latency.table8 import MODEL_LABELS, SIZES, Table8Config, table8_size

    cfg = Table8Config(
        models=args.models or list(MODEL_LABELS),
        sizes=[table8_size(s) for s in args.sizes] if args.sizes else list(SIZES),
        cache=args.cache,
        warmup=args.warmup,
        runs=args.runs,
        repeats=args.repeats,
    )
    if args.where == "host":
        cfg.runtimes = args.runtimes
        cfg.max_seconds = args.max_seconds
        cfg.clock = args.clock
    return cfg


def cmd_table8(args: argparse.Namespace) -> int:
    from shufflenet.benchmarks.host_latency.table8 import run_table8_android, run_table8_host

    cfg = _table8_config(args)
    if args.where == "host":
        return _run_with_partial(lambda save: run_table8_host(cfg, save=save), args.json, "Table 8 on the host")
    acfg = _android_config(args, artifacts=cfg.cache)
    acfg.cores = args.cores
    return _run_with_partial(lambda save: run_table8_android(cfg, acfg, save=save), args.json, "Table 8 on the device")


def cmd_report(args: argparse.Namespace) -> int:
    for p in args.results:
        require_path("results file", p, "file", "pass a JSON file written by shufflenet-bench")
    from shufflenet.benchmarks.host_latency.table8 import table8_markdown
    from shufflenet.benchmarks.reports.plots import plot_latency, plot_latency_vs_macs
    from shufflenet.benchmarks.reports.results import compare_runs, comparison_markdown, read_json, to_markdown

    reports = [read_json(p) for p in args.results]
    out: Path = args.out
    results: list[BenchResult] = [r for rep in reports for r in rep.results]
    parts = []
    for path, rep in zip(args.results, reports, strict=True):
        if rep.kind.startswith("table8"):
            parts.append(table8_markdown(rep))
        parts.append(
            to_markdown(rep.results, title=f"{path.name} ({rep.kind}, {rep.created})", environment=rep.environment)
        )
    if args.compare:
        if len(reports) != 2:
            raise ValueError(f"--compare takes exactly two results files, got {len(reports)}")
        comps = compare_runs(reports[0].results, reports[1].results)
        cmp_md = comparison_markdown(comps, args.results[0].name, args.results[1].name)
        write_text_atomic(out / "compare.md", cmp_md)
        parts.append("## Comparison\n\n" + cmp_md)
    text = "\n".join(parts)
    write_text_atomic(out / "report.md", text)
    from shufflenet.benchmarks.reports.results import write_csv as _csv

    _csv(results, out / "report.csv")
    plot_latency(results, out / "report_latency.png", title="Latency")
    plot_latency_vs_macs(results, out / "report_latency_vs_macs.png")
    print(text)
    print(
        f"written: {out}/report.md, report.csv, report_latency.png, report_latency_vs_macs.png"
        + (", compare.md" if args.compare else "")
    )
    return 0


def check_outputs(args: argparse.Namespace) -> None:
    """The results files can be written: found before the first measurement, not after the last."""
    if getattr(args, "json", None) is not None:
        for path in output_paths(args.json).values():
            check_output_file("--json", path)
    if args.command == "report":
        check_output_file("--out", args.out / "report.md")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"android": cmd_android, "host": cmd_host, "profile": cmd_profile, "report": cmd_report,
                "table8": cmd_table8}  # fmt: skip

    def body() -> int:
        check_outputs(args)
        return commands[args.command](args)

    return run_cli(body, expected=(ValueError, OSError, BenchError))


if __name__ == "__main__":
    sys.exit(main())
