"""`shufflenet-bench android` on one phone: the production code path through the real adb (a private server) to
the TEST DOUBLE phone (``device_double``), which answers with recorded outputs of real devices and replays the
recorded benchmark_model outputs of ../shared/fixtures/benchmark_model. Every failure of a phone session is
covered; the fleet's own cases (several phones, servers, resume) are in test_fleet.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import recorded
from device_double.phone import DEVICE_FIXTURES, parse_getprop, sysfs_listing
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency.adb import DeviceOffline, DeviceUnauthorized, MultipleDevices, NoDevice
from shufflenet.benchmarks.phone_latency.android import AndroidConfig, run_android
from shufflenet.benchmarks.phone_latency.bm_output import parse_output
from shufflenet.benchmarks.reports.results import read_json

FIXTURE_NAMES = ("linux_42507.txt", "android_logcat_56301.txt", "legacy_r1.13_25904.txt", "percentiles_line.txt")
# The double's cpufreq listing: a Snapdragon 850's 4 + 4 cores; the big ones are cores 4-7 -> taskset mask f0.
BIG = [4, 5, 6, 7]


class Saves:
    """Collects what ``run_android`` saved (a deep copy each time)."""

    def __init__(self) -> None:
        self.snapshots: list[dict] = []

    def __call__(self, report) -> None:
        self.snapshots.append(json.loads(json.dumps(report.to_dict())))

    @property
    def last(self) -> dict:
        return self.snapshots[-1]


def bench_lines(phone) -> list[str]:
    return [ln for ln in phone.shell_lines if "benchmark_model --graph" in ln]


def test_happy_path(lab, android_cfg) -> None:
    phone = lab.phone("xiaomi_12s_pro", heat_per_run_c=0.2)
    sleeps: list[float] = []
    saves = Saves()
    rep = run_android(android_cfg(threads=[1, 4], delegates=["cpu", "xnnpack"], cooldown_s=7.5), save=saves,
                      sleep=sleeps.append)  # fmt: skip

    assert rep.errors == []
    assert len(rep.results) == 2 * 2 * 2  # files x threads x delegates
    fixture = parse_output(recorded("linux_42507.txt").read_text()).runs
    for r in rep.results:
        assert r.status == "ok" and r.target == phone.serial and r.runtime == "benchmark_model"
        assert r.runs == fixture.count and r.repeats == 1
        assert r.mean_ms == pytest.approx(fixture.avg_us / 1000)
        assert r.std_ms == pytest.approx(fixture.std_us / 1000)
        assert (r.min_ms, r.max_ms) == (fixture.min_us / 1000, fixture.max_us / 1000)
        assert r.median_ms is None and r.p90_ms is None  # this output prints neither: nothing is estimated
        assert r.details["cores_mask"] == "f0" and r.details["cores"] == BIG
        for rec in r.details["repeats"]:
            assert rec["raw_output"].endswith(recorded("linux_42507.txt").read_text())  # kept verbatim
            assert rec["parsed"]["runs"]["avg_us"] == fixture.avg_us
            # the recorded zone reads tenths of a degree (30.9 °C); each run warms the double by 0.2 °C
            assert rec["thermal_after_c"]["tsens_tz_sensor5"] == pytest.approx(
                rec["thermal_before_c"]["tsens_tz_sensor5"] + 0.2)  # fmt: skip
            assert rec["battery_before"] == {"level": 19.0, "temperature_c": 27.5}  # the Pixel C's dumpsys battery
            assert rec["cpu_before"]["governor"]["4"] == "schedutil"
    assert {r.precision for r in rep.results} == {"fp32", "int8"}
    assert sleeps == [7.5] * (8 - 1)  # one cooldown between consecutive runs, none before the first

    # what the phone is: the recorded getprop and cpufreq listing, as the report records them
    props = parse_getprop((DEVICE_FIXTURES / "getprop_xiaomi_12s_pro_sm8475.txt").read_text())
    dev = rep.environment["devices"][phone.serial]
    assert rep.environment["device"] == dev
    assert (dev["model"], dev["manufacturer"], dev["marketname"]) == ("2206122SC", "Xiaomi", "Xiaomi 12S Pro")
    assert dev["soc"] == "QTI SM8475" and dev["soc_model"] == props["ro.soc.model"] and dev["platform"] == "taro"
    assert (dev["android_version"], dev["sdk"], dev["abi"]) == ("15", "35", "arm64-v8a")
    assert dev["server"] == "local" and dev["serial"] == phone.serial
    freqs = sysfs_listing((DEVICE_FIXTURES / "cpufreq_sdm850.txt").read_text())
    assert dev["cpu_max_freq_khz"]["7"] == int(freqs["/sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq"])
    assert dev["clusters"] == [{"cores": BIG, "max_khz": 2956800}, {"cores": [0, 1, 2, 3], "max_khz": 1766400}]
    # the big cores' scaling_max_freq (2841600) sits below cpuinfo_max_freq (a boost frequency): recorded, and
    # not taken for throttling
    assert dev["capped_at_start"] == BIG and all(r.details["throttled_cores"] == [] for r in rep.results)
    assert dev["cores"] == {"choice": "big", "mask": "f0", "cores": BIG}
    assert rep.environment["benchmark_model"]["abi"] == "arm64-v8a"

    runs = bench_lines(phone)
    assert len(runs) == 8
    assert runs[0] == (
        "taskset f0 /data/local/tmp/benchmark_model --graph=/data/local/tmp/net_float32.tflite --num_threads=1 "
        "--warmup_runs=3 --num_runs=50 --warmup_min_secs=0 --min_secs=0 --use_xnnpack=false "
        "> /data/local/tmp/shufflenet_bench_output.txt 2>&1 & echo $! > /data/local/tmp/shufflenet_bench.pid; wait $!"
    )
    assert any("--num_threads=4" in ln and "--use_xnnpack=true" in ln for ln in runs)
    assert "chmod 755 /data/local/tmp/benchmark_model" in phone.shell_lines
    assert list(phone.local("/data/local/tmp").iterdir()) == []  # clean-up removed what was pushed
    assert len(saves.snapshots) >= 9 and saves.last["results"][-1]["status"] == "ok"  # saved after every cell


@pytest.mark.parametrize("fixture", FIXTURE_NAMES)
def test_every_recorded_output_form_through_the_device_path(fixture: str, lab, android_cfg) -> None:
    lab.phone(outputs=[fixture])
    rep = run_android(android_cfg(files=["net_float32.tflite"]))
    expected = parse_output(recorded(fixture).read_text()).runs
    (r,) = rep.results
    assert r.status == "ok"
    assert r.runs == expected.count and r.mean_ms == pytest.approx(expected.avg_us / 1000)
    if expected.median_us is not None:
        assert r.median_ms == pytest.approx(expected.median_us / 1000)
    else:
        assert r.median_ms is None


def test_repeats_with_different_outputs_pool_exactly_and_flag_noise(lab, android_cfg) -> None:
    outs = ["linux_42507.txt", "android_logcat_56301.txt"]
    lab.phone(outputs=outs)
    rep = run_android(android_cfg(files=["net_float32.tflite"], repeats=2))
    (r,) = rep.results
    a, b = (parse_output(recorded(p).read_text()).runs for p in outs)
    assert r.runs == a.count + b.count
    assert r.mean_ms == pytest.approx((a.count * a.avg_us + b.count * b.avg_us) / (a.count + b.count) / 1000)
    assert r.repeat_ms == pytest.approx([a.avg_us / 1000, b.avg_us / 1000])
    assert r.noisy and any("repeats disagree" in why for why in r.noise_reasons)


def test_unparseable_output_is_kept_and_reported(lab, android_cfg) -> None:
    phone = lab.phone(output_text="benchmark finished, nothing to see here\n")
    rep = run_android(android_cfg(repeats=2))
    assert [r.status for r in rep.results] == ["unparsed", "unparsed"]
    r = rep.results[0]
    assert "no 'count=' statistics line" in r.error and r.mean_ms is None
    assert r.details["repeats"][0]["raw_output"].endswith("benchmark finished, nothing to see here\n")
    assert len(r.details["repeats"]) == 1  # not repeated once known to be unreadable
    assert len(rep.errors) == 2 and rep.errors[0].startswith(f"{phone.serial}: net_float32.tflite threads=1")
    assert "raw output kept" in rep.errors[0]


def test_several_devices_need_a_serial(lab, android_cfg) -> None:
    a = lab.phone("xiaomi_12s_pro")
    b = lab.phone("xiaomi_14", state="unauthorized", unauthorized=True)
    with pytest.raises(MultipleDevices) as e:
        run_android(android_cfg())
    assert str(e.value).startswith("several devices attached: ")
    assert f"{a.serial} (device)" in str(e.value) and f"{b.serial} (unauthorized)" in str(e.value)
    assert str(e.value).endswith("; choose one with --serial, or --serial all")
    rep = run_android(android_cfg(serial=a.serial))
    assert {r.target for r in rep.results} == {a.serial} and rep.results[0].status == "ok"
    with pytest.raises(NoDevice, match=r"device 127.0.0.1:1 not attached \(attached: "):
        run_android(android_cfg(serial="127.0.0.1:1"))


def test_no_device(lab, android_cfg) -> None:
    saves = Saves()
    with pytest.raises(NoDevice, match="no Android device attached"):
        run_android(android_cfg(), save=saves)
    assert saves.last["errors"] == [
        "no Android device attached (adb devices lists none): connect one with USB debugging on"
    ]


def test_adb_missing(android_cfg, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="adb not found or not executable"):
        run_android(android_cfg(adb=str(tmp_path / "no-adb")))


def test_unusable_device_states(lab, android_cfg) -> None:
    """The only phone is unauthorized, or offline (it vanished; the server still lists it): one-line errors."""
    u = lab.phone(state="unauthorized", unauthorized=True)
    with pytest.raises(DeviceUnauthorized, match="unauthorized: accept the USB debugging prompt"):
        run_android(android_cfg())
    lab.servers[0].disconnect(u.serial)
    gone = lab.phone()
    gone.vanish()
    with pytest.raises(DeviceOffline, match="is offline: reconnect it"):
        run_android(android_cfg())


def test_unauthorized_seen_by_a_command(lab, android_cfg) -> None:
    """The phone's key is revoked between two runs: its next command says so, its remaining cell fails."""
    phone = lab.phone()

    def revoke(_seconds: float) -> None:  # the pause between the runs
        phone.revoke()
        lab.servers[0].wait_for(phone.serial, "unauthorized")

    rep = run_android(android_cfg(cooldown_s=1.0), sleep=revoke)
    assert [r.status for r in rep.results] == ["ok", "failed"]
    (line,) = rep.errors
    assert line == (f"{phone.serial}: device {phone.serial} is unauthorized: accept the USB debugging prompt on "
                    "it; 1 cell(s) not run")  # fmt: skip


def test_push_failure_no_space(lab, android_cfg) -> None:
    phone = lab.phone(free_bytes=6000)  # the binary fits, the first model does not
    rep = run_android(android_cfg())
    assert [r.status for r in rep.results] == ["failed", "failed"]
    (line,) = rep.errors
    assert line == (f"{phone.serial}: push of net_float32.tflite to /data/local/tmp/net_float32.tflite failed: "
                    "no space left on the device; 2 cell(s) not run")  # fmt: skip


def test_binary_of_the_wrong_abi(lab, android_cfg, make_binary) -> None:
    phone = lab.phone()
    binary = make_binary("x86_64")
    rep = run_android(android_cfg(benchmark_model=binary))
    assert f"built for x86_64 but device {phone.serial} runs arm64-v8a" in rep.errors[0]
    assert not (phone.local("/data/local/tmp") / "benchmark_model").exists()  # stopped before pushing anything
    # without the local check, the phone's own refusal (written into the run's output) is recognised
    saves = Saves()
    rep = run_android(android_cfg(benchmark_model=binary, check_abi=False), save=saves)
    assert all(r["status"] == "failed" for r in saves.last["results"])
    assert "built for x86_64" in rep.errors[0] and "not executable: 64-bit ELF file" in rep.errors[0]


def test_binary_of_a_listed_abi_the_device_refuses(lab, android_cfg, make_binary) -> None:
    """A 32-bit build on a phone that lists armeabi-v7a (the Xiaomi 12S Pro's getprop does) but runs it not: the
    message must not say "built for armeabi-v7a, the device runs arm64-v8a, armeabi-v7a"."""
    lab.phone("xiaomi_12s_pro")
    rep = run_android(android_cfg(benchmark_model=make_binary("armeabi-v7a")))
    msg = rep.errors[0]
    assert "built for armeabi-v7a, which the device lists but would not execute" in msg
    assert "the device runs" not in msg and "use the android_aarch64 build" in msg
    assert "\n" not in msg


def test_binary_not_executable(lab, android_cfg) -> None:
    phone = lab.phone(noexec=True)
    rep = run_android(android_cfg())
    assert f"benchmark_model is not executable on {phone.serial}" in rep.errors[0]
    assert "Permission denied" in rep.errors[0]


def test_benchmark_model_crash_is_recorded_and_the_session_goes_on(lab, android_cfg) -> None:
    phone = lab.phone(crash_signal=11)
    rep = run_android(android_cfg(repeats=3))
    assert [r.status for r in rep.results] == ["failed", "failed"]
    assert rep.results[0].error == "benchmark_model crashed (SIGSEGV: Segmentation fault)"
    assert len(rep.results[0].details["repeats"]) == 1
    assert rep.results[0].details["repeats"][0]["exit_status"] == 139
    assert rep.errors[0] == (
        f"{phone.serial}: net_float32.tflite threads=1 delegate=xnnpack: benchmark_model crashed "
        "(SIGSEGV: Segmentation fault)"
    )


def test_benchmark_model_nonzero_exit(lab, android_cfg) -> None:
    lab.phone(output_text="Loaded model\nFailed to allocate tensors!\nBenchmarking failed.\n", exit_code=1)
    rep = run_android(android_cfg())
    assert rep.results[0].status == "failed"
    assert rep.results[0].error == "benchmark_model exited with status 1: Failed to allocate tensors!"
    assert "Failed to allocate tensors!" in rep.results[0].details["repeats"][0]["raw_output"]


def test_disconnect_mid_run_keeps_finished_results(lab, android_cfg) -> None:
    phone = lab.phone(vanish_on_run=3)
    saves = Saves()
    rep = run_android(android_cfg(threads=[1, 2]), save=saves)
    assert [(r.threads, r.status) for r in rep.results] == [(1, "ok"), (2, "ok"), (1, "failed"), (2, "failed")]
    # the finished cells were saved before the phone vanished
    assert any([r["status"] for r in s["results"]] == ["ok", "ok"] for s in saves.snapshots)
    (line,) = rep.errors  # one line naming the phone and the step
    assert line.startswith(f"{phone.serial}: device {phone.serial} disconnected during the benchmark run of "
                           "net_int8_full_integer_int8_io.tflite threads=1 delegate=xnnpack")  # fmt: skip
    assert line.endswith("; 2 cell(s) not run")
    assert lab.servers[0].states()[phone.serial] == "offline"


def test_delegate_not_available(lab, android_cfg, caplog) -> None:
    lab.phone(delegates=("cpu", "xnnpack"))
    with caplog.at_level(logging.ERROR):
        rep = run_android(android_cfg(delegates=["gpu", "xnnpack", "nnapi"]))
    by = {(r.path, r.delegate): r for r in rep.results}
    assert by[("net_float32.tflite", "xnnpack")].status == "ok"
    gpu = by[("net_float32.tflite", "gpu")]
    assert gpu.status == "failed" and gpu.error == "delegate gpu not available: Failed to apply GPU delegate."
    assert by[("net_float32.tflite", "nnapi")].error == "delegate nnapi not available: Failed to apply NNAPI delegate."
    assert len(rep.errors) == 4
    assert "delegate gpu not available" in caplog.text


def test_device_warming_is_reported_as_throttling(lab, android_cfg, caplog) -> None:
    lab.phone(heat_per_run_c=4.0)
    with caplog.at_level(logging.WARNING):
        rep = run_android(android_cfg(repeats=2, max_warming_c=5.0))
    first, second = rep.results
    # first file: +4 °C per run, 8 °C above the start after two runs -> flagged
    assert first.noisy and any("device warmed by" in why for why in first.noise_reasons)
    assert first.details["max_warming_c"] == pytest.approx(8.0)
    assert second.noisy
    assert "warmer than at the start" in caplog.text


def test_cores_choice_and_bad_mask(lab, android_cfg) -> None:
    phone = lab.phone()
    run_android(android_cfg(cores="little", files=["net_float32.tflite"]))
    assert bench_lines(phone)[0].startswith("taskset f /data/local/tmp/benchmark_model")
    rep = run_android(android_cfg(cores="0x100"))
    assert "the device has no core(s) [8]" in rep.errors[0]


def test_config_errors(lab, android_cfg, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown delegate"):
        run_android(android_cfg(delegates=["tpu"]))
    with pytest.raises(ValueError, match="benchmark_model not found"):
        run_android(android_cfg(benchmark_model=tmp_path / "nope"))
    with pytest.raises(ValueError, match="not in"):
        run_android(android_cfg(files=["other.tflite"]))
    with pytest.raises(ValueError, match="--max-parallel must be >= 1"):
        run_android(android_cfg(max_parallel=0))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no \.tflite files"):
        run_android(android_cfg(artifacts=empty))


# --- through the CLI ----------------------------------------------------------------------------------------
def _cli(cfg: AndroidConfig, out: Path, *extra: str) -> list[str]:
    return ["android", "--adb", str(cfg.adb), "--benchmark-model", str(cfg.benchmark_model), "--artifacts",
            str(cfg.artifacts), "--cooldown", "0", "--repeats", "1", "--json", str(out), *extra]  # fmt: skip


def test_cli_happy_path_writes_json_markdown_csv_and_plots(lab, android_cfg, tmp_path: Path, capsys) -> None:
    phone = lab.phone(outputs=["percentiles_line.txt"])
    out = tmp_path / "res" / "android.json"
    rc = main(_cli(android_cfg(), out, "--threads", "1,4", "--delegate", "xnnpack", "--op-profiling"))
    stdout = capsys.readouterr().out
    assert rc == 0
    for name in ("android.json", "android.md", "android.csv", "android_latency.png", "android_latency_vs_macs.png"):
        assert (out.parent / name).is_file(), name
    rep = read_json(out)
    assert rep.kind == "android" and len(rep.results) == 4
    assert rep.results[0].median_ms == pytest.approx(141.253)
    assert f"| {phone.serial} |" in stdout and "141.3" in stdout
    assert all("--enable_op_profiling=true" in ln for ln in bench_lines(phone))


def test_cli_no_device_is_one_line_exit_2(lab, android_cfg, tmp_path: Path, capsys) -> None:
    rc = main(_cli(android_cfg(), tmp_path / "android.json"))
    err = capsys.readouterr().err
    assert rc == 2
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        "error: no Android device attached (adb devices lists none): connect one with USB debugging on"
    ]
    assert "Traceback" not in err


def test_cli_lost_phone_is_one_line_exit_1_and_keeps_partial_results(lab, android_cfg, tmp_path: Path, capsys):
    phone = lab.phone(vanish_on_run=2)
    out = tmp_path / "android.json"
    rc = main(_cli(android_cfg(), out))
    err = capsys.readouterr().err
    assert rc == 1
    error_lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1 and error_lines[0].startswith(f"error: {phone.serial}: device {phone.serial} "
                                                               "disconnected during the benchmark run of")  # fmt: skip
    assert "Traceback" not in err
    rep = read_json(out)
    assert [r.status for r in rep.results] == ["ok", "failed"] and "disconnected" in rep.errors[-1]
    assert (tmp_path / "android_latency.png").is_file()


def test_cli_per_configuration_failures_exit_1(lab, android_cfg, tmp_path: Path, capsys) -> None:
    phone = lab.phone()
    rc = main(_cli(android_cfg(), tmp_path / "a.json", "--files", "net_float32.tflite", "--delegate", "xnnpack,gpu"))
    err = capsys.readouterr().err
    assert rc == 1
    assert f"error: {phone.serial}: net_float32.tflite threads=1 delegate=gpu: delegate gpu not available" in err


@pytest.mark.slow
def test_android_real_export(lab, android_cfg, small_export: Path) -> None:
    """A real export folder: the .tflite files are read from its manifest, with their precision and MACs."""
    phone = lab.phone(outputs=["android_logcat_56301.txt"])
    rep = run_android(android_cfg(artifacts=small_export))
    manifest = json.loads((small_export / "manifest.json").read_text())
    tfl = [e for e in manifest["artifacts"] if e["format"] == "tflite"]
    assert [r.path for r in rep.results] == [e["path"] for e in tfl]
    assert [r.precision for r in rep.results] == [e["precision"] for e in tfl]
    assert [r.details["file_sha256"] for r in rep.results] == [e["sha256"] for e in tfl]
    assert all(r.macs == manifest["complexity"]["macs"] and r.arch == manifest["arch"] for r in rep.results)
    graphs = {ln.split("--graph=")[1].split()[0] for ln in bench_lines(phone)}
    assert graphs == {f"/data/local/tmp/{e['path']}" for e in tfl}


@pytest.mark.slow
def test_table8_on_the_phones_through_the_double(lab, android_cfg, tmp_path: Path) -> None:
    """`table8 android` over the phones of two servers: TFLite files per model and size (from the export
    library), one thread, annotated; one Table 8 per phone."""
    pytest.importorskip("shufflenet.export.formats.tflite_export", reason="the export library is not available")
    from shufflenet.benchmarks.host_latency.table8 import Table8Config, run_table8_android, table8_markdown

    a = lab.phone("xiaomi_12s_pro", outputs=["percentiles_line.txt"])
    b = lab.phone("xiaomi_14", server=1, outputs=["linux_42507.txt"])
    t8 = Table8Config(models=["ShuffleNet 0.5x"], sizes=[(224, 224)], cache=tmp_path / "cache")
    servers = [s.address for s in lab.servers]
    rep = run_table8_android(t8, android_cfg(artifacts=tmp_path, threads=[4], serial="all", adb_servers=servers))
    assert rep.kind == "table8-android" and [r.target for r in rep.results] == [a.serial, b.serial]
    for r in rep.results:
        assert r.status == "ok"
        assert (r.label, r.input_size, r.threads) == ("ShuffleNet 0.5x", [224, 224], 1)
        assert r.path == "shufflenet_v1_g3_0.5x_224x224_float32.tflite" and r.macs == 37_589_856
    assert rep.results[0].median_ms == pytest.approx(141.253)
    md = table8_markdown(rep)
    assert md.count("### Table 8 reproduced on") == 2
    assert (
        f"### Table 8 reproduced on {a.serial}: Xiaomi 12S Pro" in md and f"on {b.serial}: Xiaomi 14 (23127PN0CC)" in md
    )
    assert "| ShuffleNet 0.5x | 43.2 | 38 | 37.6 | 15.2 | 141.3 |" in md
