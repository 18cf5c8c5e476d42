"""What a phone is and reads: the parsers on recorded outputs of real devices (device_recordings/, sources in its
README), core masks, ELF ABIs, SoC matching of NPU files, and the thermal readings the cooling waits on."""

from __future__ import annotations

from pathlib import Path

import pytest
from shufflenet.benchmarks.phone_latency import device as dev
from shufflenet.benchmarks.phone_latency.adb import BenchError
from shufflenet.benchmarks.phone_latency.device import CpuState, DeviceInfo, cores_mask, elf_abi, soc_mismatch
from shufflenet.benchmarks.phone_latency.thermal import Reading, capped_at_start, throttled_cores

DEVICE = Path(__file__).parent / "device_recordings"


def recorded(name: str) -> str:
    """The recording as published, line endings included (read_text() would turn CRLF into LF)."""
    return (DEVICE / name).read_bytes().decode()


def grep_h(listing: dict[str, str]) -> str:
    """What ``grep -H . FILES`` prints for these files (one line per file here)."""
    return "".join(f"{p}:{v}\n" for p, v in listing.items())


def test_getprop_of_two_real_phones() -> None:
    text_a, text_b = recorded("getprop_xiaomi_12s_pro_sm8475.txt"), recorded("getprop_xiaomi_14_sm8650.txt")
    a, b = dev.parse_getprop(text_a), dev.parse_getprop(text_b)
    assert (a["ro.soc.model"], a["ro.board.platform"], a["ro.build.version.sdk"]) == ("SM8475", "taro", "35")
    assert (b["ro.soc.model"], b["ro.board.platform"], b["ro.build.version.sdk"]) == ("SM8650", "pineapple", "35")
    assert a["ro.product.cpu.abilist"] == "arm64-v8a,armeabi-v7a,armeabi" and b["ro.product.cpu.abilist"] == "arm64-v8a"
    # the Xiaomi 14's dump was captured with CRLF line endings: no value keeps the carriage return
    assert text_b.count("\r\n") > 1000 and not any("\r" in k or "\r" in v for k, v in b.items())
    assert (b["ro.product.marketname"], b["ro.soc.manufacturer"]) == ("Xiaomi 14", "QTI")
    # every property of the dumps is read, one whose value spans lines included
    assert len(a) == sum(ln.startswith("[") for ln in text_a.splitlines()) == 1402
    assert len(b) == sum(ln.startswith("[") for ln in text_b.splitlines()) == 1765
    history = "reboot,1754101319\nreboot,1754101295\nreboot,1754101270\nreboot,1754101249"
    assert a["persist.sys.boot.reason.history"] == history
    assert b["persist.sys.boot.reason.history"] == "reboot,ota,1756533808\nreboot,update,system-update,1756533772"
    assert dev.parse_getprop("[a]: [cut here\n[b]: [2]\n[c]: [3\n4]\n") == {"b": "2", "c": "3\n4"}


def test_cpufreq_listing_of_a_real_snapdragon_850() -> None:
    from device_double.phone import sysfs_listing

    text = grep_h(sysfs_listing(recorded("cpufreq_sdm850.txt")))
    freqs = dev.parse_cpu_max_freqs(text)
    assert freqs == {**dict.fromkeys(range(4), 1766400), **dict.fromkeys(range(4, 8), 2956800)}
    state = CpuState.parse(text)
    assert set(state.governor.values()) == {"schedutil"}
    assert state.max_khz[7] == 2841600 and state.cur_khz[4] == 1920000
    info = DeviceInfo(serial="x", cpu_max_freq_khz=freqs, cpu=state)
    assert info.clusters == [{"cores": [4, 5, 6, 7], "max_khz": 2956800}, {"cores": [0, 1, 2, 3], "max_khz": 1766400}]
    assert capped_at_start(state, freqs) == [4, 5, 6, 7]  # its boost frequency: limited from the start
    assert throttled_cores(state, state) == []
    later = CpuState(state.governor, {**state.max_khz, 6: 1996800, 7: 1996800}, state.cur_khz)
    assert throttled_cores(state, later) == [6, 7]


def test_thermal_zones_of_a_real_msm8953_in_three_units() -> None:
    types = recorded("thermal_msm8953_type.txt").split()
    temps = recorded("thermal_msm8953_temp.txt").split()
    zones = sorted(f"thermal_zone{i}" for i in range(len(types)))  # the glob order they were listed in
    listing = {}
    for zone, kind, temp in zip(zones, types, temps, strict=True):
        listing[f"/sys/class/thermal/{zone}/type"] = kind
        listing[f"/sys/class/thermal/{zone}/temp"] = temp
    t = dev.parse_thermal(grep_h(listing))
    assert t["pm8953_tz"] == pytest.approx(32.636)  # millidegrees
    assert t["tsens_tz_sensor5"] == pytest.approx(30.9)  # tenths (309)
    assert t["xo_therm"] == pytest.approx(31.0)  # degrees
    reading = Reading(t, {"temperature_c": 27.5})
    assert reading.soc_c == pytest.approx(32.2)  # the hottest tsens sensor; pa_therm1's -40 sentinel is left out
    assert reading.battery_c == pytest.approx(27.5)  # dumpsys battery (warmer than the "battery" zone's 25.0)
    assert reading.hottest_c == pytest.approx(32.2)


def test_parse_units_and_duplicates() -> None:
    thermal = dev.parse_thermal(
        "/sys/class/thermal/thermal_zone0/type:cpu-0-0\n/sys/class/thermal/thermal_zone1/type:battery\n"
        "/sys/class/thermal/thermal_zone10/type:cpu-0-0\n/sys/class/thermal/thermal_zone0/temp:41500\n"
        "/sys/class/thermal/thermal_zone1/temp:30\n/sys/class/thermal/thermal_zone10/temp:40000\n"
    )
    assert thermal == {"cpu-0-0": 41.5, "battery": 30.0, "cpu-0-0(thermal_zone10)": 40.0}
    battery = dev.parse_battery("Current Battery Service state:\n  level: 64\n  scale: 100\n  temperature: 315\n")
    assert battery == {"level": 64.0, "temperature_c": 31.5}
    assert dev.parse_battery(recorded("battery_samsung.txt")) == {"level": 100.0, "temperature_c": 30.9}


def test_cores_mask() -> None:
    freqs = {0: 1800, 1: 1800, 2: 1800, 3: 1800, 4: 2400, 5: 2400, 6: 2400, 7: 3100}
    assert cores_mask("big", freqs) == ("f0", [4, 5, 6, 7])
    assert cores_mask("little", freqs) == ("f", [0, 1, 2, 3])
    assert cores_mask("all", freqs) == ("ff", list(range(8)))
    assert cores_mask("0x80", freqs) == ("80", [7])
    assert cores_mask("big", {0: 2000, 1: 2000}) == ("3", [0, 1])  # all alike: every core is "big"
    for bad in ("0", "zz", "100"):  # zero, not hex, core 8 missing
        with pytest.raises(BenchError):
            cores_mask(bad, freqs)
    with pytest.raises(BenchError, match="no cpuinfo_max_freq"):
        cores_mask("big", {})


def test_elf_abi(tmp_path: Path, elf_bytes) -> None:
    for abi in ("arm64-v8a", "armeabi-v7a", "x86_64", "x86"):
        (tmp_path / abi).write_bytes(elf_bytes(abi) + bytes(64))
        assert elf_abi(tmp_path / abi) == abi
    (tmp_path / "script").write_text("#!/bin/sh\necho hi\n")
    assert elf_abi(tmp_path / "script") is None
    assert elf_abi(tmp_path / "missing") is None


def test_npu_files_match_the_soc() -> None:
    sm8475 = DeviceInfo(serial="a", soc_model="SM8475")
    assert soc_mismatch(None, sm8475) is None
    assert soc_mismatch({"vendor": "qualcomm", "soc": "sm8475"}, sm8475) is None
    other = soc_mismatch({"soc": "SM8650"}, sm8475)
    assert other == ("not for this SoC: compiled for SM8650, the device is SM8475 (ro.soc.model); export with "
                     "--npu qualcomm:SM8475 for it")  # fmt: skip
    no_target = soc_mismatch({"soc": "SM8475"}, DeviceInfo(serial="b", soc_model="SM8635"))
    assert no_target.endswith("SM8635 has no ahead-of-time Qualcomm target in LiteRT")
    assert "does not say its SoC" in soc_mismatch({"soc": "SM8475"}, DeviceInfo(serial="c"))
