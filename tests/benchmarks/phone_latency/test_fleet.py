"""Many phones in one run, through the real adb: two private adb servers stand for two lab hosts, TEST DOUBLE
phones (``device_double``) are attached to them with ``adb connect``. One and eight phones, two servers, a phone
lost mid-run, an unauthorized one, a hung ``benchmark_model``, an unreachable server, ``--resume`` after a failure,
cooling and throttling, and the fleet's report (file x device table, one plot, device-by-device comparison)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from device_double.phone import Phone
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency.adb import AdbServer, DeviceEntry, NoDevice
from shufflenet.benchmarks.phone_latency.android import run_android
from shufflenet.benchmarks.phone_latency.selection import select
from shufflenet.benchmarks.reports.results import read_json


def concurrency(phones: list[Phone]) -> int:
    """The most benchmark_model runs that were under way at one moment, over these phones."""
    spans = [span for p in phones for span in p.run_spans]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def runs_of(phone: Phone) -> list[str]:
    return [ln for ln in phone.shell_lines if "benchmark_model --graph" in ln]


def test_eight_phones_on_two_servers_run_in_parallel(lab, android_cfg) -> None:
    phones = [lab.phone("xiaomi_12s_pro" if i % 2 else "xiaomi_14", server=i % 2, run_s=0.4) for i in range(8)]
    servers = [s.address for s in lab.servers]
    rep = run_android(android_cfg(serial="all", adb_servers=servers, repeats=2))
    assert rep.errors == []
    assert len(rep.results) == 8 * 2 and all(r.status == "ok" for r in rep.results)
    assert [r.target for r in rep.results[::2]] == [r.target for r in rep.results[1::2]]  # device, then cell order
    assert {r.target for r in rep.results} == {p.serial for p in phones}
    devices = rep.environment["devices"]
    assert {d["server"] for d in devices.values()} == set(servers)
    assert {d["soc_model"] for d in devices.values()} == {"SM8475", "SM8650"}
    assert rep.environment["machine"] == "8 Android devices" and "device" not in rep.environment
    for p in phones:
        assert concurrency([p]) == 1  # each phone times its files one after another
        assert len(runs_of(p)) == 4
    assert concurrency(phones) >= 2  # phones run at the same time


def test_max_parallel_bounds_the_phones_at_work(lab, android_cfg) -> None:
    phones = [lab.phone(server=i % 2, run_s=0.2) for i in range(4)]
    rep = run_android(android_cfg(serial="all", adb_servers=[s.address for s in lab.servers], max_parallel=2))
    assert rep.errors == [] and len(rep.results) == 8
    assert concurrency(phones) <= 2
    rep = run_android(android_cfg(serial=",".join(p.serial for p in phones[:2]), adb_servers=[lab.servers[0].address,
                                  lab.servers[1].address], max_parallel=1))  # fmt: skip
    assert {r.target for r in rep.results} == {phones[0].serial, phones[1].serial}


def test_a_lab_with_failures_finishes_the_healthy_phones(lab, android_cfg, tmp_path: Path, capsys) -> None:
    """One phone vanishes during its second run, one is unauthorized, one's benchmark_model hangs, one server is
    not there: the healthy phones finish, each failure is its own line, the command exits 1."""
    healthy = [lab.phone("xiaomi_12s_pro", server=0), lab.phone("xiaomi_14", server=1)]
    lost = lab.phone(server=0, vanish_on_run=2)
    locked = lab.phone(server=1, state="unauthorized", unauthorized=True)
    hung = lab.phone(server=1, hang_on_run=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = AdbServer("127.0.0.1", s.getsockname()[1])  # closed at once: nothing listens there
    cfg = android_cfg()
    out = tmp_path / "fleet.json"
    servers = ",".join([*(s.address for s in lab.servers), nowhere.label])
    rc = main(["android", "--adb", cfg.adb, "--benchmark-model", str(cfg.benchmark_model), "--artifacts",
               str(cfg.artifacts), "--serial", "all", "--adb-server", servers, "--cooldown", "0", "--repeats", "1",
               "--run-timeout", "5", "--json", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    rep = read_json(out)
    status = {(r.target, r.path): r.status for r in rep.results}
    int8 = "net_int8_full_integer_int8_io.tflite"
    for p in healthy:
        assert status[(p.serial, "net_float32.tflite")] == status[(p.serial, int8)] == "ok"
    assert status[(lost.serial, "net_float32.tflite")] == "ok"
    assert status[(lost.serial, "net_int8_full_integer_int8_io.tflite")] == "failed"
    assert status[(hung.serial, "net_float32.tflite")] == "failed"  # killed after the timeout ...
    assert status[(hung.serial, "net_int8_full_integer_int8_io.tflite")] == "ok"  # ... and the phone went on
    assert all(r.target != locked.serial for r in rep.results)
    hung_result = next(r for r in rep.results if r.target == hung.serial and r.status == "failed")
    assert hung_result.error == "benchmark_model hung: killed after 5 s (--run-timeout)"
    assert "kill -9 4001" in hung.shell_lines  # killed by its process id on the phone
    errors = [ln.removeprefix("error: ") for ln in captured.err.splitlines() if ln.startswith("error: ")]
    assert sorted(errors) == sorted(rep.errors) and len(errors) == 4
    assert any(e.startswith(f"adb server {nowhere.label} not reachable") for e in errors)
    assert any(e.startswith(f"device {locked.serial} (adb server {lab.servers[1].address}) is unauthorized: accept")
               for e in errors)  # fmt: skip
    assert any(e.startswith(f"{lost.serial}: device {lost.serial} disconnected during the benchmark run of "
                            "net_int8_full_integer_int8_io.tflite") and e.endswith("1 cell(s) not run")
               for e in errors)  # fmt: skip
    assert any(e.startswith(f"{hung.serial}: net_float32.tflite threads=1 delegate=xnnpack: benchmark_model hung")
               for e in errors)  # fmt: skip
    assert "| file | precision | threads | delegate |" in captured.out  # the file x device table
    assert "failed" in captured.out
    assert (tmp_path / "fleet_latency.png").is_file()


def test_resume_reruns_only_the_missing_or_failed_cells(lab, android_cfg, tmp_path: Path, capsys) -> None:
    steady = lab.phone(server=0)
    flaky = lab.phone(server=1, vanish_on_run=1)
    cfg = android_cfg()
    out = tmp_path / "nightly.json"
    base = ["android", "--adb", cfg.adb, "--benchmark-model", str(cfg.benchmark_model), "--artifacts",
            str(cfg.artifacts), "--serial", "all", "--adb-server", ",".join(s.address for s in lab.servers),
            "--cooldown", "0", "--repeats", "1"]  # fmt: skip
    assert main([*base, "--json", str(out)]) == 1
    first = read_json(out)
    assert [r.status for r in first.results] == ["ok", "ok", "failed", "failed"]
    runs_before = len(runs_of(steady))

    flaky.replug(vanish_on_run=None)  # plugged in again on the same port: the server reconnects to it
    lab.servers[1].wait_for(flaky.serial, "device")
    capsys.readouterr()
    assert main([*base, "--resume", str(out)]) == 0  # written back to the same file
    resumed = read_json(out)
    assert [r.status for r in resumed.results] == ["ok"] * 4 and resumed.errors == []
    assert len(runs_of(steady)) == runs_before  # nothing timed again on the phone that had finished
    assert len(runs_of(flaky)) == 1 + 2  # the run it vanished in, then its two cells
    assert resumed.results[:2] == first.results[:2]  # kept as they were
    # an earlier run made with other options is refused, not mixed in
    assert main([*base, "--resume", str(out), "--runs", "7"]) == 2
    assert "it was measured with runs=50, this run asks 7" in capsys.readouterr().err


def test_cooling_waits_until_the_phone_is_cool_and_records_it(lab, android_cfg) -> None:
    """A phone that starts 30 °C warm and cools 3 °C/s (about 9 s to go): the run waits before the file until its
    SoC zones and battery are at most 34 °C (the recorded zones read up to 32.2 °C cold), and records the wait
    and the reading."""
    phone = lab.phone(start_heat_c=30.0, cool_c_per_s=3.0)
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        time.sleep(s)

    rep = run_android(android_cfg(cool_below_c=34.0, cool_poll_s=0.25, files=["net_float32.tflite"]), sleep=sleep)
    (r,) = rep.results
    cooling = r.details["cooling"]
    assert r.status == "ok" and not cooling["stayed_hot"] and cooling["threshold_c"] == 34.0
    assert cooling["waited_s"] > 0 and slept and all(s <= 0.25 for s in slept)
    assert cooling["soc_c"] <= 34.0 and cooling["governor"] == ["schedutil"]
    assert phone.heat_c() <= 1.8


def test_a_phone_that_stays_hot_or_throttles_is_flagged(lab, android_cfg, caplog) -> None:
    lab.phone(start_heat_c=30.0, throttle_above_c=5.0)  # 62 °C, never cooling; its big cores capped while hot
    rep = run_android(android_cfg(cool_below_c=40.0, cool_timeout_s=0.5, cool_poll_s=0.1), sleep=lambda s: None)
    for r in rep.results:
        assert r.status == "ok" and r.noisy
        assert r.details["cooling"]["stayed_hot"] is True
        assert any(why.startswith("stayed hot: 62.") for why in r.noise_reasons)
    assert "stayed hot" in caplog.text


def test_throttling_during_the_run_is_flagged(lab, android_cfg) -> None:
    phone = lab.phone(heat_per_run_c=3.0, throttle_above_c=5.0)  # capped once two runs have warmed it
    rep = run_android(android_cfg(repeats=2))
    for r in rep.results:  # the second run of the first file warmed it past the cap: the big cores dropped
        assert r.details["throttled_cores"] == [4, 5, 6, 7]
        assert any(w.startswith("throttling: cores [4, 5, 6, 7]") for w in r.noise_reasons)
        assert r.details["repeats"][-1]["cpu_after"]["max_khz"]["7"] == 1843200
    assert rep.results[0].details["repeats"][0]["cpu_after"]["max_khz"]["7"] == 2841600  # not yet after one run
    assert phone.read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq").strip() == "1766400"


def test_selection_rules() -> None:
    """Pure selection over listings of two servers (no adb): serials, all, states, and the same serial twice."""
    s0, s1 = AdbServer("10.0.0.1", 5037), AdbServer("10.0.0.2", 5037)
    entries = [DeviceEntry("A", "device", s0), DeviceEntry("B", "unauthorized", s0), DeviceEntry("emulator-5554",
               "device", s0), DeviceEntry("emulator-5554", "device", s1), DeviceEntry("C", "offline", s1)]  # fmt: skip
    sel = select(entries, "all")
    assert [c.target for c in sel.chosen] == ["A", "10.0.0.1:5037/emulator-5554", "10.0.0.2:5037/emulator-5554"]
    assert sel.skipped == [
        "device B (adb server 10.0.0.1:5037) is unauthorized: accept the USB debugging prompt on it",
        "device C (adb server 10.0.0.2:5037) is offline: reconnect it (or 'adb disconnect' and connect it again)",
    ]
    sel = select(entries, "A,Z")
    assert [c.target for c in sel.chosen] == ["A"] and sel.skipped[0].startswith("device Z not attached (attached: A,")
    with pytest.raises(NoDevice, match=r"no usable device: device B .* unauthorized.*; device C .* offline"):
        select(entries, "B,C")


def test_report_table_plot_and_device_by_device_comparison(lab, android_cfg, tmp_path: Path, capsys) -> None:
    """Two fleet runs (before / after): `report` prints the file x device table and draws one plot; `--compare`
    pairs them phone by phone."""
    a = lab.phone("xiaomi_12s_pro", server=0, outputs=["linux_42507.txt"])
    b = lab.phone("xiaomi_14", server=1, outputs=["percentiles_line.txt"])
    servers = [s.address for s in lab.servers]
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    for path in (before, after):
        cfg = android_cfg(serial="all", adb_servers=servers, repeats=2)
        from shufflenet.benchmarks.cli_outputs import write_all

        write_all(run_android(cfg), path, "fleet")
    capsys.readouterr()
    out = tmp_path / "report"
    assert main(["report", str(before), str(after), "--compare", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"| file | precision | threads | delegate | {a.serial} | {b.serial} |" in text
    assert "| device | model | SoC | Android | ABI | cores (max GHz) | governor | adb server |" in text
    assert "Xiaomi 12S Pro" in text and "Xiaomi 14" in text and "QTI SM8650 / pineapple" in text
    compare = (out / "compare.md").read_text()
    assert compare.count(f"| {a.serial} |") == 2 and compare.count(f"| {b.serial} |") == 2
    assert "1.00x" in compare  # the same recorded outputs before and after: no change, phone by phone
    assert (out / "report_latency.png").stat().st_size > 10_000


def _listening() -> dict[int, set[str]]:
    """{port: local addresses} of every listening TCP socket on this machine (Linux's /proc/net/tcp, tcp6)."""
    found: dict[int, set[str]] = {}
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            addr, port = fields[1].split(":")
            raw = bytes.fromhex(addr)
            if width == 8:
                text = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:  # four little-endian 32-bit words
                text = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            found.setdefault(int(port, 16), set()).add(text)
    return found


def test_the_lab_listens_on_loopback_only(lab) -> None:
    if not Path("/proc/net/tcp").is_file():
        pytest.skip("needs Linux's /proc/net/tcp")
    phones = [lab.phone(server=i) for i in range(2)]
    listening = _listening()
    ports = [s.port for s in lab.servers] + [p.listener.port for p in phones]
    for port in ports:
        assert listening.get(port), f"nothing listens on {port}"
        assert all(a.startswith("127.") or a in ("::1", "::ffff:127.0.0.1") for a in listening[port]), listening[port]


def test_ctrl_c_stops_every_phone_at_its_next_run(lab, android_cfg) -> None:
    """Ctrl-C while several phones are at work: the run ends soon, no phone starts another run, what was done is
    saved and the cells left are marked interrupted."""
    phones = [lab.phone(server=i % 2, run_s=0.3) for i in range(3)]
    pauses: list[float] = []
    saved: list[dict] = []

    def sleep(seconds: float) -> None:  # the pause between two runs; the first one is where Ctrl-C lands
        pauses.append(seconds)
        if len(pauses) == 1:
            raise KeyboardInterrupt
        time.sleep(0.05)

    cfg = android_cfg(serial="all", adb_servers=[s.address for s in lab.servers], cooldown_s=1.0, repeats=3)
    with pytest.raises(KeyboardInterrupt):
        run_android(cfg, save=lambda rep: saved.append(rep.to_dict()), sleep=sleep)
    assert all(len(runs_of(p)) < 6 for p in phones)  # 2 files x 3 repeats each, had nobody pressed Ctrl-C
    last = saved[-1]
    stopped = [e for e in last["errors"] if ": interrupted; " in e]
    assert len(stopped) == 2  # the two phones whose worker was not the one Ctrl-C landed in
    assert any(r["error"] == "not run: interrupted" for r in last["results"])


@pytest.mark.slow
def test_one_command_times_a_real_export_on_every_phone_of_two_servers(
    lab, android_cfg, small_export: Path, tmp_path: Path, capsys
) -> None:
    """The whole path in one command: a real export folder (its manifest and hashes), every phone of two adb
    servers at once, one of them lost on the way; one file x device table on the screen, one plot, exit 1."""
    manifest_files = sorted(p.name for p in small_export.glob("*.tflite"))
    phones = [lab.phone("xiaomi_12s_pro", server=0, outputs=["percentiles_line.txt"]),
              lab.phone("xiaomi_14", server=1, outputs=["android_logcat_56301.txt"]),
              lab.phone("xiaomi_14", server=1, vanish_on_run=2)]  # fmt: skip
    cfg = android_cfg()
    out = tmp_path / "fleet.json"
    rc = main(["android", "--adb", cfg.adb, "--benchmark-model", str(cfg.benchmark_model), "--artifacts",
               str(small_export), "--serial", "all", "--adb-server", ",".join(s.address for s in lab.servers),
               "--cooldown", "0", "--repeats", "2", "--json", str(out)])  # fmt: skip
    stdout = capsys.readouterr().out
    assert rc == 1
    rep = read_json(out)
    order = list(rep.environment["devices"])  # the order the servers listed them in
    assert sorted(order) == sorted(p.serial for p in phones)
    assert "| file | precision | threads | delegate | " + " | ".join(order) + " |" in stdout
    rows = [ln for ln in stdout.splitlines() if ln.startswith("| shufflenet_")]
    assert {ln.split(" | ")[0].removeprefix("| ") for ln in rows} >= set(manifest_files)
    status = {t: {r.status for r in rep.results if r.target == t} for t in order}
    assert status == {phones[0].serial: {"ok"}, phones[1].serial: {"ok"}, phones[2].serial: {"failed"}}
    assert len(rep.results) == 3 * len(manifest_files)
    assert (tmp_path / "fleet_latency.png").stat().st_size > 10_000
