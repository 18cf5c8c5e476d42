"""The plumbing every `shufflenet-*` command shares: one-line argparse errors (usage only for --help), SIGTERM
handled like Ctrl-C, paths checked before torch loads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main as bench_main
from shufflenet.benchmarks.cli_eval import main as eval_main
from shufflenet.benchmarks.cli_parity import main as parity_main
from shufflenet.export.cli import main as export_main
from shufflenet.model.cli_info import main as info_main
from shufflenet.model.cli_train import main as train_main

CASES = [
    (info_main, ["--nope"], "shufflenet-info", "unrecognized arguments: --nope"),
    (train_main, [], "shufflenet-train", "the following arguments are required: --data"),
    (train_main, ["--data", "d", "--epochs", "many"], "shufflenet-train", "argument --epochs: invalid int value"),
    (export_main, ["--input-size", "abc"], "shufflenet-export", "input size 'abc' is not H or HxW"),
    (export_main, ["--format", "pdf"], "shufflenet-export", "argument --format: invalid choice: 'pdf'"),
    (eval_main, [], "shufflenet-eval", "the following arguments are required"),
    (parity_main, [], "shufflenet-parity", "the following arguments are required: --artifacts"),
    (bench_main, [], "shufflenet-bench", "the following arguments are required: command"),
    (bench_main, ["host", "--threads", "x"], "shufflenet-bench host", "expected a comma list of integers"),
    (bench_main, ["android"], "shufflenet-bench android", "the following arguments are required: --artifacts"),
    (bench_main, ["table8", "host", "--runs"], "shufflenet-bench table8 host", "expected one argument"),
    (bench_main, ["report"], "shufflenet-bench report", "the following arguments are required: results"),
]


@pytest.mark.parametrize("main,argv,prog,fragment", CASES, ids=[f"{c[2]} {' '.join(c[1])}" for c in CASES])
def test_argparse_errors_are_one_line(main, argv: list[str], prog: str, fragment: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ""
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith(f"{prog}: error: ") and fragment in err
    assert err.rstrip().endswith(f"(see {prog} --help)")


def test_help_still_prints_the_usage(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        export_main(["--help"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: shufflenet-export")


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip


def test_sigterm_unwinds_like_ctrl_c(tmp_path: Path) -> None:
    marker = tmp_path / "cleaned"
    proc = _run(
        f"""
        import os, signal, sys, time
        from pathlib import Path
        from shufflenet.model.cli_common import run_cli

        def body():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)
                return 0
            finally:
                Path({str(marker)!r}).write_text("yes")

        sys.exit(run_cli(body))
        """,
        tmp_path,
    )
    assert proc.returncode == 143 and proc.stderr.startswith("error: terminated")
    assert marker.read_text() == "yes"  # the clean-up of the interrupted work ran


@pytest.mark.parametrize(("sig", "rc", "said"), [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_a_stop_that_lands_in_a_finalizer_is_not_lost(tmp_path: Path, sig: str, rc: int, said: str) -> None:
    """Python prints an exception raised in ``__del__`` with a traceback and drops it; the signal is delivered again
    once the finalizer is over, so the command still ends in one line (143 for SIGTERM, 130 for Ctrl-C)."""
    proc = _run(
        """
        import os, signal, sys, time
        from shufflenet.model.cli_common import run_cli

        class Finalized:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGNAME)
                time.sleep(0.05)  # the handler runs in here

        def body():
            Finalized()
            time.sleep(30)
            return 0

        sys.exit(run_cli(body))
        """.replace("SIGNAME", sig),
        tmp_path,
    )
    assert proc.returncode == rc and proc.stderr.startswith(f"error: {said}"), proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


@pytest.mark.parametrize(
    "module,argv,fragment",
    [
        ("shufflenet.model.cli_info", ["--weights", "{tmp}"], "--weights {tmp} is a folder, not a file"),
        ("shufflenet.model.cli_train", ["--data", "{tmp}/nope"], "--data {tmp}/nope does not exist"),
        ("shufflenet.model.cli_train", ["--data", "{tmp}", "--val", "{tmp}/v"], "--val {tmp}/v does not exist"),
        ("shufflenet.model.cli_train", ["--data", "{tmp}", "--init-from", "{tmp}"], "--init-from {tmp} is a folder"),
        ("shufflenet.model.cli_train", ["--data", "{tmp}", "--out", "{tmp}"], "--out {tmp} is a folder"),
        ("shufflenet.benchmarks.cli_eval", ["--artifacts", "{tmp}", "--data", "{tmp}/nope"], "--data {tmp}/nope does"),
        ("shufflenet.benchmarks.cli_eval", ["--checkpoint", "{tmp}/c.pth", "--data", "{tmp}"], "--checkpoint {tmp}/c"),
        ("shufflenet.benchmarks.cli_bench", ["report", "{tmp}/r.json"], "results file {tmp}/r.json does not exist"),
        ("shufflenet.benchmarks.cli_parity", ["--artifacts", "{tmp}/nope"], "--artifacts {tmp}/nope does not exist"),
        ("shufflenet.benchmarks.cli_parity", ["--artifacts", "{tmp}", "--images", "{tmp}/x"], "--images {tmp}/x does"),
    ],
)
def test_paths_are_checked_before_torch_loads(tmp_path: Path, module: str, argv: list[str], fragment: str) -> None:
    argv = [a.format(tmp=tmp_path) for a in argv]
    proc = _run(
        f"""
        import sys
        from {module} import main
        rc = main({argv!r})
        print("torch loaded:", "torch" in sys.modules)
        sys.exit(rc)
        """,
        tmp_path,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and fragment.format(tmp=tmp_path) in proc.stderr
    assert proc.stdout.strip() == "torch loaded: False"


@pytest.mark.parametrize(
    "body",
    [
        "from shufflenet.model.cli_info import main; sys.exit(main([]))",  # the table, printed at the end
        # Much more than a pipe holds, printed through run_cli's body: the write itself fails.
        "from shufflenet.model.cli_common import run_cli\n"
        "sys.exit(run_cli(lambda: [print('x' * 1000) for _ in range(1000)] and 0))",
    ],
    ids=["shufflenet-info", "long output"],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(body: str) -> None:
    """`shufflenet-info | head`: the reader closes the pipe; the command ends without a word on stderr and with
    141 (as a Unix tool killed by SIGPIPE), not "error: Broken pipe" or Python's "Exception ignored"."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line (as `| head -0`, never a race)
    try:
        proc = subprocess.run([sys.executable, "-c", "import sys\n" + body], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=300)  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 141, (proc.returncode, proc.stderr)


def test_a_broken_pipe_that_is_not_stdout_is_still_an_error(capsys) -> None:
    from shufflenet.model.cli_common import run_cli

    def body() -> int:
        raise BrokenPipeError(32, "Broken pipe (a device's connection)")

    assert run_cli(body) == 2
    assert capsys.readouterr().err == "error: [Errno 32] Broken pipe (a device's connection)\n"


def test_coremltools_linux_warnings_stay_off_the_screen() -> None:
    """Importing coremltools' model modules on Linux logs "Failed to load _MLModelProxy" and the like (its
    macOS-only runtime), and that the pinned torch is newer than it was tested with: expected here, so a
    command's terminal does not show them; other warnings still do."""
    code = """
        import logging, sys
        from shufflenet.model.cli_common import run_cli

        def body():
            import coremltools.models.model, coremltools.models.compute_plan  # noqa: F401
            logging.getLogger("coremltools").warning("Failed to convert: a real problem")
            return 0

        sys.exit(run_cli(body))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    if sys.platform != "darwin":
        assert "Failed to load" not in proc.stderr, proc.stderr
    for noise in ("has not been tested with coremltools", "scikit-learn version", "Detected no triton"):
        assert noise not in proc.stderr, proc.stderr
    assert "Failed to convert: a real problem" in proc.stderr
