"""`shufflenet-bench android`: the production code path against the TEST DOUBLE of adb.

The double (tests/benchmarks/phone_latency/adb_double/adb) keeps a fake device's files in a temp folder and replays
the recorded benchmark_model outputs of ../shared/fixtures/benchmark_model. Every failure of a device session is
covered.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency.adb import (
    Adb,
    DeviceDisconnected,
    DeviceOffline,
    DeviceUnauthorized,
    MultipleDevices,
    NoDevice,
    PushFailed,
)
from shufflenet.benchmarks.phone_latency.android import AndroidConfig, BinaryNotRunnable, run_android
from shufflenet.benchmarks.phone_latency.bm_output import parse_output
from shufflenet.benchmarks.reports.results import read_json

BM_FIXTURES = Path(__file__).parents[3].parent / "shared" / "fixtures" / "benchmark_model"
FIXTURE_NAMES = ("linux_42507.txt", "android_logcat_56301.txt", "legacy_r1.13_25904.txt", "percentiles_line.txt")


def _cfg(fake, binary: Path, models: Path, **kw) -> AndroidConfig:
    base = dict(benchmark_model=binary, artifacts=models, adb=str(fake.adb), threads=[1], delegates=["xnnpack"],
                warmup=3, runs=50, repeats=1, cooldown_s=0.0)  # fmt: skip
    base.update(kw)
    return AndroidConfig(**base)


class Saves:
    """Collects what ``run_android`` saved (a deep copy each time)."""

    def __init__(self) -> None:
        self.snapshots: list[dict] = []

    def __call__(self, report) -> None:
        self.snapshots.append(json.loads(json.dumps(report.to_dict())))

    @property
    def last(self) -> dict:
        return self.snapshots[-1]


def test_happy_path(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add(warm_per_run_mc=200)
    sleeps: list[float] = []
    cfg = _cfg(fake_devices, make_binary(), payload_models, threads=[1, 4], delegates=["cpu", "xnnpack"], repeats=1,
               cooldown_s=7.5)  # fmt: skip
    saves = Saves()
    rep = run_android(cfg, save=saves, sleep=sleeps.append)

    assert rep.errors == []
    assert len(rep.results) == 2 * 2 * 2  # files x threads x delegates
    fixture = parse_output((BM_FIXTURES / "linux_42507.txt").read_text()).runs
    for r in rep.results:
        assert r.status == "ok" and r.target == "FAKE0001" and r.runtime == "benchmark_model" and r.format == "tflite"
        assert r.runs == fixture.count and r.repeats == 1
        assert r.mean_ms == pytest.approx(fixture.avg_us / 1000)
        assert r.std_ms == pytest.approx(fixture.std_us / 1000)
        assert (r.min_ms, r.max_ms) == (fixture.min_us / 1000, fixture.max_us / 1000)
        assert r.median_ms is None and r.p90_ms is None  # this output prints neither: nothing is estimated
        assert r.details["cores_mask"] == "f0" and r.details["cores"] == [4, 5, 6, 7]
        for rec in r.details["repeats"]:
            # the raw output is kept beside the parsed figures
            assert rec["raw_output"].endswith((BM_FIXTURES / "linux_42507.txt").read_text())
            assert rec["parsed"]["runs"]["avg_us"] == fixture.avg_us
            assert rec["thermal_after_c"]["cpu-0-0-usr"] == pytest.approx(rec["thermal_before_c"]["cpu-0-0-usr"] + 0.2)
            assert rec["battery_before"] == {"level": 87.0, "temperature_c": 29.8}
    assert {r.precision for r in rep.results} == {"fp32", "int8"}
    # one cooldown between consecutive runs, none before the first
    assert sleeps == [7.5] * (8 - 1)

    env = rep.environment
    dev = env["device"]
    assert dev["model"] == "Pixel Double" and dev["soc"] == "QTI SM8250" and dev["board"] == "kona"
    assert dev["android_version"] == "14" and dev["abi"] == "arm64-v8a"
    assert dev["cpu_max_freq_khz"]["7"] == 3187200 and dev["battery"]["level"] == 87
    assert env["cores"] == {"choice": "big", "mask": "f0", "cores": [4, 5, 6, 7]}
    assert env["benchmark_model"]["abi"] == "arm64-v8a"

    lines = fake_devices.shell_lines()
    runs = [ln for ln in lines if "benchmark_model --graph" in ln]
    assert len(runs) == 8
    assert runs[0] == (
        "taskset f0 /data/local/tmp/benchmark_model --graph=/data/local/tmp/net_float32.tflite --num_threads=1 "
        "--warmup_runs=3 --num_runs=50 --warmup_min_secs=0 --min_secs=0 --use_xnnpack=false "
        "> /data/local/tmp/shufflenet_bench_output.txt 2>&1"
    )
    assert any("--num_threads=4" in ln and "--use_xnnpack=true" in ln for ln in runs)
    assert "chmod 755 /data/local/tmp/benchmark_model" in lines
    pushes = [c for c in fake_devices.calls() if "push" in c]
    assert [c[-1] for c in pushes] == ["/data/local/tmp/benchmark_model", "/data/local/tmp/net_float32.tflite",
                                        "/data/local/tmp/net_int8_full_integer_int8_io.tflite"]  # fmt: skip
    # clean-up removed what was pushed
    tmpdir = fake_devices.device_file("FAKE0001", "/data/local/tmp")
    assert list(tmpdir.iterdir()) == []
    # results were saved after every configuration
    assert len(saves.snapshots) >= 9 and saves.last["results"][-1]["status"] == "ok"


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_every_recorded_output_form_through_the_device_path(
    fixture: str, fake_devices, make_binary, payload_models: Path
) -> None:
    fake_devices.add(outputs=[str(BM_FIXTURES / fixture)])
    rep = run_android(_cfg(fake_devices, make_binary(), payload_models, files=["net_float32.tflite"]))
    expected = parse_output((BM_FIXTURES / fixture).read_text()).runs
    (r,) = rep.results
    assert r.status == "ok"
    assert r.runs == expected.count and r.mean_ms == pytest.approx(expected.avg_us / 1000)
    if expected.median_us is not None:
        assert r.median_ms == pytest.approx(expected.median_us / 1000)
    else:
        assert r.median_ms is None


def test_repeats_with_different_outputs_pool_exactly_and_flag_noise(
    fake_devices, make_binary, payload_models: Path
) -> None:
    outs = [BM_FIXTURES / "linux_42507.txt", BM_FIXTURES / "android_logcat_56301.txt"]
    fake_devices.add(outputs=[str(p) for p in outs])
    rep = run_android(_cfg(fake_devices, make_binary(), payload_models, files=["net_float32.tflite"], repeats=2))
    (r,) = rep.results
    a, b = (parse_output(p.read_text()).runs for p in outs)
    assert r.runs == a.count + b.count
    assert r.mean_ms == pytest.approx((a.count * a.avg_us + b.count * b.avg_us) / (a.count + b.count) / 1000)
    assert r.repeat_ms == pytest.approx([a.avg_us / 1000, b.avg_us / 1000])
    assert r.noisy and any("repeats disagree" in why for why in r.noise_reasons)


def test_unparseable_output_is_kept_and_reported(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add(output_text="benchmark finished, nothing to see here\n")
    rep = run_android(_cfg(fake_devices, make_binary(), payload_models, repeats=2))
    assert [r.status for r in rep.results] == ["unparsed", "unparsed"]
    r = rep.results[0]
    assert "no 'count=' statistics line" in r.error and r.mean_ms is None
    assert r.details["repeats"][0]["raw_output"].endswith("benchmark finished, nothing to see here\n")
    assert len(r.details["repeats"]) == 1  # not repeated once known to be unreadable
    assert len(rep.errors) == 2 and "raw output kept" in rep.errors[0]


def test_several_devices_need_a_serial(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add("AAA111")
    fake_devices.add("BBB222", state="unauthorized")
    with pytest.raises(MultipleDevices, match=r"several devices attached: AAA111 \(device\), BBB222 \(unauthorized\)"):
        run_android(_cfg(fake_devices, make_binary(), payload_models))
    rep = run_android(_cfg(fake_devices, make_binary(), payload_models, serial="AAA111"))
    assert rep.results[0].target == "AAA111" and rep.results[0].status == "ok"
    with pytest.raises(NoDevice, match=r"device CCC333 not attached \(attached: AAA111, BBB222\)"):
        run_android(_cfg(fake_devices, make_binary(), payload_models, serial="CCC333"))


def test_no_device(fake_devices, make_binary, payload_models: Path) -> None:
    saves = Saves()
    with pytest.raises(NoDevice, match="no Android device attached"):
        run_android(_cfg(fake_devices, make_binary(), payload_models), save=saves)
    assert saves.last["errors"] == [
        "no Android device attached (adb devices lists none): connect one with USB debugging on"
    ]


def test_adb_missing(make_binary, payload_models: Path, tmp_path: Path) -> None:
    cfg = AndroidConfig(benchmark_model=make_binary(), artifacts=payload_models, adb=str(tmp_path / "no-adb"))
    with pytest.raises(Exception, match="adb not found or not executable"):
        run_android(cfg)


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        ("unauthorized", DeviceUnauthorized, "unauthorized: accept the USB debugging prompt"),
        ("offline", DeviceOffline, "is offline"),
    ],
)
def test_unusable_device_states(state, error, message, fake_devices, make_binary, payload_models) -> None:
    fake_devices.add(state=state)
    with pytest.raises(error, match=message):
        run_android(_cfg(fake_devices, make_binary(), payload_models))


def test_unauthorized_seen_by_a_command(fake_devices) -> None:
    """A device that turns unauthorized after selection: the command's own error is recognised."""
    fake_devices.add()
    adb = Adb(str(fake_devices.adb))
    adb.select()
    fake_devices.devices[0]["state"] = "unauthorized"
    fake_devices.write()
    with pytest.raises(DeviceUnauthorized):
        adb.shell("getprop")


def test_push_failure_no_space(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add(free_bytes=6000)  # the binary fits, the first model does not
    with pytest.raises(PushFailed, match=r"push of net_float32\.tflite .* failed: no space left on the device"):
        run_android(_cfg(fake_devices, make_binary(), payload_models))


def test_binary_of_the_wrong_abi(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add()
    binary = make_binary("x86_64")
    with pytest.raises(BinaryNotRunnable, match="built for x86_64 but device FAKE0001 runs arm64-v8a"):
        run_android(_cfg(fake_devices, binary, payload_models))
    assert not any("push" in c for c in fake_devices.calls())  # stopped before pushing anything
    # without the local check, the device's own refusal is recognised
    saves = Saves()
    with pytest.raises(BinaryNotRunnable, match=r"built for x86_64.*not executable: 64-bit ELF file"):
        run_android(_cfg(fake_devices, binary, payload_models, check_abi=False), save=saves)
    assert saves.last["results"] == [] and "not executable" in saves.last["errors"][0]


def test_binary_of_a_listed_abi_the_device_refuses(fake_devices, make_binary, payload_models: Path) -> None:
    """A 32-bit build on a phone that lists armeabi-v7a but runs only 64-bit code: the message must not say
    "built for armeabi-v7a, the device runs arm64-v8a, armeabi-v7a" (which contradicts itself)."""
    fake_devices.add()  # lists arm64-v8a,armeabi-v7a,armeabi; executes arm64 only
    with pytest.raises(BinaryNotRunnable) as e:
        run_android(_cfg(fake_devices, make_binary("armeabi-v7a"), payload_models))
    msg = str(e.value)
    assert "built for armeabi-v7a, which the device lists but would not execute" in msg
    assert "the device runs" not in msg and msg.endswith("use the android_aarch64 build")
    assert "\n" not in msg


def test_binary_not_executable(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add(noexec=True)
    with pytest.raises(BinaryNotRunnable, match=r"not executable on FAKE0001 .*Permission denied"):
        run_android(_cfg(fake_devices, make_binary(), payload_models))


def test_benchmark_model_crash_is_recorded_and_the_session_goes_on(
    fake_devices, make_binary, payload_models: Path
) -> None:
    fake_devices.add(crash_signal=11)
    rep = run_android(_cfg(fake_devices, make_binary(), payload_models, repeats=3))
    assert [r.status for r in rep.results] == ["failed", "failed"]
    assert rep.results[0].error == "benchmark_model crashed (SIGSEGV: Segmentation fault)"
    assert len(rep.results[0].details["repeats"]) == 1
    assert rep.results[0].details["repeats"][0]["exit_status"] == 139
    assert rep.errors[0] == (
        "net_float32.tflite threads=1 delegate=xnnpack: benchmark_model crashed (SIGSEGV: Segmentation fault)"
    )


def test_benchmark_model_nonzero_exit(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add(output_text="Loaded model\nFailed to allocate tensors!\nBenchmarking failed.\n", exit_code=1)
    rep = run_android(_cfg(fake_devices, make_binary(), payload_models))
    assert rep.results[0].status == "failed"
    assert rep.results[0].error == "benchmark_model exited with status 1: Failed to allocate tensors!"
    assert "Failed to allocate tensors!" in rep.results[0].details["repeats"][0]["raw_output"]


def test_disconnect_mid_run_keeps_finished_results(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add(disconnect_after_runs=3)
    saves = Saves()
    with pytest.raises(DeviceDisconnected, match=r"device FAKE0001 disconnected during the benchmark run of "):
        run_android(_cfg(fake_devices, make_binary(), payload_models, threads=[1, 2]), save=saves)
    done = saves.last["results"]
    assert [(r["threads"], r["status"]) for r in done] == [(1, "ok"), (2, "ok")]
    assert "disconnected" in saves.last["errors"][-1]
    assert fake_devices.state() == []  # the device is gone


def test_delegate_not_available(fake_devices, make_binary, payload_models: Path, caplog) -> None:
    fake_devices.add(delegates=["cpu", "xnnpack"])
    with caplog.at_level(logging.ERROR):
        rep = run_android(_cfg(fake_devices, make_binary(), payload_models, delegates=["gpu", "xnnpack", "nnapi"]))
    by = {(r.path, r.delegate): r for r in rep.results}
    assert by[("net_float32.tflite", "xnnpack")].status == "ok"
    gpu = by[("net_float32.tflite", "gpu")]
    assert gpu.status == "failed" and gpu.error == "delegate gpu not available: Failed to apply GPU delegate."
    assert by[("net_float32.tflite", "nnapi")].error == "delegate nnapi not available: Failed to apply NNAPI delegate."
    assert len(rep.errors) == 4
    assert "delegate gpu not available" in caplog.text


def test_device_warming_is_reported_as_throttling(fake_devices, make_binary, payload_models: Path, caplog) -> None:
    fake_devices.add(warm_per_run_mc=4000)
    with caplog.at_level(logging.WARNING):
        rep = run_android(_cfg(fake_devices, make_binary(), payload_models, repeats=2, max_warming_c=5.0))
    first, second = rep.results
    # first file: +4 °C per run, 8 °C above the start after two runs -> flagged
    assert first.noisy and any("device warmed by" in why for why in first.noise_reasons)
    assert first.details["max_warming_c"] == pytest.approx(8.0)
    assert second.noisy
    assert "warmer than at the start" in caplog.text


def test_cores_choice_and_bad_mask(fake_devices, make_binary, payload_models: Path) -> None:
    fake_devices.add()
    run_android(_cfg(fake_devices, make_binary(), payload_models, cores="little", files=["net_float32.tflite"]))
    assert any(ln.startswith("taskset f /data/local/tmp/benchmark_model") for ln in fake_devices.shell_lines())
    with pytest.raises(Exception, match="no core"):
        run_android(_cfg(fake_devices, make_binary(), payload_models, cores="0x100"))


def test_config_errors(fake_devices, make_binary, payload_models: Path, tmp_path: Path) -> None:
    fake_devices.add()
    with pytest.raises(ValueError, match="unknown delegate"):
        run_android(_cfg(fake_devices, make_binary(), payload_models, delegates=["tpu"]))
    with pytest.raises(ValueError, match="benchmark_model not found"):
        run_android(_cfg(fake_devices, tmp_path / "nope", payload_models))
    with pytest.raises(ValueError, match="not in"):
        run_android(_cfg(fake_devices, make_binary(), payload_models, files=["other.tflite"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no \.tflite files"):
        run_android(_cfg(fake_devices, make_binary(), empty))


# --- through the CLI ----------------------------------------------------------------------------------------
def test_cli_happy_path_writes_json_markdown_csv_and_plots(
    fake_devices, make_binary, payload_models: Path, tmp_path: Path, capsys
) -> None:
    fake_devices.add(outputs=[str(BM_FIXTURES / "percentiles_line.txt")])
    out = tmp_path / "res" / "android.json"
    rc = main(["android", "--adb", str(fake_devices.adb), "--benchmark-model", str(make_binary()), "--artifacts",
               str(payload_models), "--threads", "1,4", "--delegate", "xnnpack", "--repeats", "1", "--cooldown", "0",
               "--op-profiling", "--json", str(out)])  # fmt: skip
    stdout = capsys.readouterr().out
    assert rc == 0
    for name in ("android.json", "android.md", "android.csv", "android_latency.png", "android_latency_vs_macs.png"):
        assert (out.parent / name).is_file(), name
    rep = read_json(out)
    assert rep.kind == "android" and len(rep.results) == 4
    assert rep.results[0].median_ms == pytest.approx(141.253)
    assert "| FAKE0001 |" in stdout and "141.3" in stdout
    assert all("--enable_op_profiling=true" in ln for ln in fake_devices.shell_lines() if "--graph" in ln)


def test_cli_fatal_error_is_one_line_and_keeps_partial_results(
    fake_devices, make_binary, payload_models: Path, tmp_path: Path, capsys
) -> None:
    fake_devices.add(disconnect_after_runs=2)
    out = tmp_path / "android.json"
    rc = main(["android", "--adb", str(fake_devices.adb), "--benchmark-model", str(make_binary()), "--artifacts",
               str(payload_models), "--repeats", "1", "--cooldown", "0", "--json", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    error_lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1 and error_lines[0].startswith("error: device FAKE0001 disconnected during")
    assert "Traceback" not in err
    rep = read_json(out)
    assert [r.status for r in rep.results] == ["ok"] and "disconnected" in rep.errors[-1]
    assert (tmp_path / "android_latency.png").is_file()


def test_cli_per_configuration_failures_exit_1(
    fake_devices, make_binary, payload_models: Path, tmp_path: Path, capsys
) -> None:
    fake_devices.add()
    rc = main(["android", "--adb", str(fake_devices.adb), "--benchmark-model", str(make_binary()), "--artifacts",
               str(payload_models), "--files", "net_float32.tflite", "--delegate", "xnnpack,gpu", "--repeats", "1",
               "--cooldown", "0", "--json", str(tmp_path / "a.json")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1
    assert "error: net_float32.tflite threads=1 delegate=gpu: delegate gpu not available" in err


@pytest.mark.slow
def test_android_real_export(fake_devices, make_binary, small_export: Path) -> None:
    """A real export folder: the .tflite files are read from its manifest, with their precision and MACs."""
    fake_devices.add(outputs=[str(BM_FIXTURES / "android_logcat_56301.txt")])
    rep = run_android(_cfg(fake_devices, make_binary(), small_export))
    manifest = json.loads((small_export / "manifest.json").read_text())
    tfl = [e for e in manifest["artifacts"] if e["format"] == "tflite"]
    assert [r.path for r in rep.results] == [e["path"] for e in tfl]
    assert [r.precision for r in rep.results] == [e["precision"] for e in tfl]
    assert all(r.macs == manifest["complexity"]["macs"] and r.arch == manifest["arch"] for r in rep.results)
    pushed = {c[-1] for c in fake_devices.calls() if "push" in c}
    assert {f"/data/local/tmp/{e['path']}" for e in tfl} <= pushed


@pytest.mark.slow
def test_table8_on_the_device_through_the_double(fake_devices, make_binary, tmp_path: Path) -> None:
    """`table8 android`: TFLite files per model and size (from the export library), one thread, annotated."""
    pytest.importorskip("shufflenet.export.formats.tflite_export", reason="the export library is not available")
    from shufflenet.benchmarks.host_latency.table8 import Table8Config, run_table8_android, table8_markdown

    fake_devices.add(outputs=[str(BM_FIXTURES / "percentiles_line.txt")])
    t8 = Table8Config(models=["ShuffleNet 0.5x"], sizes=[(224, 224)], cache=tmp_path / "cache")
    acfg = AndroidConfig(benchmark_model=make_binary(), artifacts=tmp_path, adb=str(fake_devices.adb), threads=[4],
                         repeats=1, cooldown_s=0.0)  # fmt: skip
    rep = run_table8_android(t8, acfg)
    (r,) = rep.results
    assert rep.kind == "table8-android" and r.status == "ok"
    assert (r.label, r.input_size, r.threads) == ("ShuffleNet 0.5x", [224, 224], 1)
    assert r.path == "shufflenet_v1_g3_0.5x_224x224_float32.tflite" and r.macs == 37_589_856
    assert r.median_ms == pytest.approx(141.253)
    md = table8_markdown(rep)
    assert "| ShuffleNet 0.5x | 43.2 | 38 | 37.6 | 15.2 | 141.3 |" in md
    assert "Pixel Double" in md


# /proc/cpuinfo of two phones as they print it (first cores shown): a Pixel 3 (Snapdragon 845, Cortex-A75/A55
# cores, ARMv8.2 with FP16 arithmetic) and an Alcatel 3T (MediaTek MT6735P, Cortex-A53 cores, ARMv8.0: none).
PIXEL3_CPUINFO = """Processor\t: AArch64 Processor rev 12 (aarch64)
processor\t: 0
BogoMIPS\t: 38.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp
CPU implementer\t: 0x51
CPU architecture: 8
CPU variant\t: 0x7
CPU part\t: 0x803
CPU revision\t: 12

processor\t: 4
BogoMIPS\t: 38.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp
CPU implementer\t: 0x51
CPU architecture: 8
CPU variant\t: 0x6
CPU part\t: 0x802
CPU revision\t: 13
"""
A53_CPUINFO = """Processor\t: AArch64 Processor rev 4 (aarch64)
processor\t: 0
model name\t: AArch64 Processor rev 4 (aarch64)
BogoMIPS\t: 26.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd03
CPU revision\t: 4

Hardware\t: MT6735P
"""


def _float16_runs(rep) -> dict[str, object]:
    return {r.delegate: r for r in rep.results if r.precision == "fp16-arith"}


@pytest.mark.slow
def test_float16_arithmetic_file_is_forced_to_fp16_on_a_phone_with_fp16(
    fake_devices, make_binary, small_export: Path
) -> None:
    """On a phone whose CPU has FP16 arithmetic, the float16-arithmetic file runs on XNNPACK with
    --xnnpack_force_fp16=true (and only that file, only on XNNPACK), and the result records it; benchmark_model's
    echo of the flag confirms it took it."""
    fake_devices.add(cpuinfo=PIXEL3_CPUINFO, outputs=[str(BM_FIXTURES / "android_logcat_56301.txt")])
    rep = run_android(_cfg(fake_devices, make_binary(), small_export, delegates=["cpu", "xnnpack"]))
    assert rep.errors == [] and rep.environment["device"]["cpu_features"][-2:] == ["fphp", "asimdhp"]
    runs = [ln for ln in fake_devices.shell_lines() if "benchmark_model --graph" in ln]
    forced = [ln for ln in runs if "--xnnpack_force_fp16=true" in ln]
    assert len(runs) == 8 and len(forced) == 1
    assert "float16_arithmetic" in forced[0] and "--use_xnnpack=true" in forced[0]
    xnn, cpu = _float16_runs(rep)["xnnpack"], _float16_runs(rep)["cpu"]
    assert xnn.status == "ok" and xnn.details["arithmetic"] == {
        "arithmetic": "fp16", "flag": "--xnnpack_force_fp16=true", "flag_acknowledged": True,
        "reason": "the CPU has FP16 arithmetic (fphp, asimdhp)"}  # fmt: skip
    assert cpu.details["arithmetic"]["arithmetic"] == "fp32" and cpu.details["arithmetic"]["flag"] is None
    assert all("arithmetic" not in r.details for r in rep.results if r.precision != "fp16-arith")
    from shufflenet.benchmarks.reports.results import to_markdown

    assert "fp16 arithmetic (--xnnpack_force_fp16=true)" in to_markdown(rep.results)


@pytest.mark.slow
def test_float16_arithmetic_file_runs_unforced_on_a_cortex_a53_phone(
    fake_devices, make_binary, small_export: Path, caplog
) -> None:
    """On a Cortex-A53 phone (no FP16 arithmetic) forcing float16 would make XNNPACK fail: the file runs without
    the flag, and the result says it was computed in float32 and why."""
    fake_devices.add(cpuinfo=A53_CPUINFO, outputs=[str(BM_FIXTURES / "android_logcat_56301.txt")])
    with caplog.at_level(logging.WARNING):
        rep = run_android(_cfg(fake_devices, make_binary(), small_export))
    assert rep.errors == [] and all(r.status == "ok" for r in rep.results)
    assert not [ln for ln in fake_devices.shell_lines() if "--xnnpack_force_fp16" in ln]
    plan = _float16_runs(rep)["xnnpack"].details["arithmetic"]
    assert plan["arithmetic"] == "fp32" and plan["flag"] is None
    assert "no FP16 arithmetic (Features: fp asimd evtstrm aes pmull sha1 sha2 crc32)" in plan["reason"]
    assert "no FP16 arithmetic" in caplog.text


@pytest.mark.slow
def test_a_benchmark_model_that_ignores_the_flag_is_not_taken_for_fp16(
    fake_devices, make_binary, small_export: Path
) -> None:
    fake_devices.add(cpuinfo=PIXEL3_CPUINFO, ignores_force_fp16=True,
                     outputs=[str(BM_FIXTURES / "android_logcat_56301.txt")])  # fmt: skip
    rep = run_android(_cfg(fake_devices, make_binary(), small_export))
    xnn = _float16_runs(rep)["xnnpack"]
    assert xnn.status == "ok" and xnn.details["arithmetic"]["flag_acknowledged"] is False
    assert xnn.details["arithmetic_note"].startswith("fp16 not confirmed arithmetic")


def test_forcing_fp16_on_a_phone_without_it_fails_in_the_double_as_on_a_phone(
    fake_devices, make_binary, payload_models: Path
) -> None:
    """The double's rule the tests above rely on: --xnnpack_force_fp16 on a CPU without FP16 fails the run."""
    from shufflenet.benchmarks.phone_latency.android import benchmark_command

    fake_devices.add(cpuinfo=A53_CPUINFO)
    cfg = _cfg(fake_devices, make_binary(), payload_models)
    adb = Adb(str(fake_devices.adb))
    adb.select(None)
    adb.push(cfg.benchmark_model, "/data/local/tmp/benchmark_model")
    adb.push(payload_models / "net_float32.tflite", "/data/local/tmp/net_float32.tflite")
    cmd = benchmark_command(cfg, None, "/data/local/tmp/net_float32.tflite", 1, "xnnpack", "/data/local/tmp/o.txt",
                            ("--xnnpack_force_fp16=true",))  # fmt: skip
    assert adb.shell(cmd).returncode == 1
    out = fake_devices.device_file("FAKE0001", "/data/local/tmp/o.txt").read_text()
    assert "xnnpack_force_fp16: [1]" in out and "Failed to apply XNNPACK delegate." in out
