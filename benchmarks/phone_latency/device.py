"""What a phone is: its properties, SoC, Android version, ABI, core layout, and what it reads now (thermal zones,
battery, CPU frequency governors and limits), parsed from the outputs of ``getprop``, ``grep -H . <sysfs files>``
and ``dumpsys battery``; the ``taskset`` mask for a choice of cores; the ABI an executable is built for.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.phone_latency.adb import Adb, BenchError

_PROP = re.compile(r"^\[(?P<k>[^\]]+)\]:\s*\[(?P<v>.*)\]\s*$")
_PROP_OPEN = re.compile(r"^\[(?P<k>[^\]]+)\]:\s*\[(?P<v>.*)$")  # a value that goes on to the next lines
_GREP_H = re.compile(r"^(?P<path>/[^:]+):(?P<val>.*)$")
CPUFREQ = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq"
CPU_FILES = " ".join(f"{CPUFREQ}/{f}" for f in ("cpuinfo_max_freq", "scaling_governor", "scaling_max_freq",
                                                 "scaling_cur_freq"))  # fmt: skip
THERMAL_GLOBS = "/sys/class/thermal/thermal_zone*/type /sys/class/thermal/thermal_zone*/temp"


# --- parsers ------------------------------------------------------------------------------------------------
def parse_getprop(text: str) -> dict[str, str]:
    """{property: value} from ``getprop``. A value that holds newlines (e.g. ``persist.sys.boot.reason.history``)
    is printed over several lines, up to the one that ends in ``]``; one that a new property interrupts (a cut
    output) is left out rather than swallowing the properties after it."""
    props: dict[str, str] = {}
    open_key, open_lines = None, []
    for line in (ln.strip() for ln in text.splitlines()):
        m = _PROP.match(line) or _PROP_OPEN.match(line)
        if open_key is not None and not m:
            open_lines.append(line)
            if line.endswith("]"):
                props[open_key] = "\n".join(open_lines)[:-1]
                open_key = None
            continue
        open_key = None
        if m and m.re is _PROP:
            props[m.group("k")] = m.group("v")
        elif m:
            open_key, open_lines = m.group("k"), [m.group("v")]
    return props


def parse_grep_h(text: str) -> dict[str, str]:
    """Parse ``grep -H . files...`` output into {path: first line}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _GREP_H.match(line.strip())
        if m and m.group("path") not in out:
            out[m.group("path")] = m.group("val").strip()
    return out


def parse_cpufreq(text: str, name: str) -> dict[int, str]:
    """{cpu index: value of cpufreq file ``name``} from ``grep -H .`` over the cpufreq folders."""
    out = {}
    for path, val in parse_grep_h(text).items():
        m = re.search(rf"/cpu(\d+)/cpufreq/{name}$", path)
        if m:
            out[int(m.group(1))] = val.strip()
    return dict(sorted(out.items()))


def parse_cpu_max_freqs(text: str) -> dict[int, int]:
    """{cpu index: cpuinfo_max_freq in kHz} from ``grep -H . /sys/devices/system/cpu/cpu*/cpufreq/...``."""
    return {c: int(v) for c, v in parse_cpufreq(text, "cpuinfo_max_freq").items() if v.isdigit()}


def to_celsius(raw: str) -> float | None:
    """A thermal zone's reading in °C. Most zones give millidegrees; some give tenths (the tsens sensors of an
    MSM8953 read 309 for 30.9 °C) or whole degrees. No phone runs at 100 °C or more, so the magnitude tells."""
    try:
        v = float(raw)
    except ValueError:
        return None
    if abs(v) >= 1000:
        return v / 1000.0
    return v / 10.0 if abs(v) >= 100 else v


def parse_thermal(text: str) -> dict[str, float]:
    """{zone type (or zone name): °C} from ``grep -H . .../thermal_zone*/type .../thermal_zone*/temp``."""
    types: dict[str, str] = {}
    temps: dict[str, float] = {}
    for path, val in parse_grep_h(text).items():
        m = re.search(r"/(thermal_zone\d+)/(type|temp)$", path)
        if not m:
            continue
        zone, what = m.groups()
        if what == "type":
            types[zone] = val
        else:
            c = to_celsius(val)
            if c is not None:
                temps[zone] = c
    out = {}
    for zone in sorted(temps, key=lambda z: int(z.removeprefix("thermal_zone"))):
        name = types.get(zone, zone)
        if name in out:
            name = f"{name}({zone})"
        out[name] = temps[zone]
    return out


def parse_battery(text: str) -> dict[str, float]:
    """Level (%) and temperature (°C) from ``dumpsys battery``."""
    out: dict[str, float] = {}
    m = re.search(r"^\s*level:\s*(\d+)", text, re.MULTILINE)
    if m:
        out["level"] = float(m.group(1))
    m = re.search(r"^\s*temperature:\s*(-?\d+)", text, re.MULTILINE)
    if m:
        out["temperature_c"] = int(m.group(1)) / 10.0
    return out


# --- what the phone reads now -------------------------------------------------------------------------------
@dataclass
class CpuState:
    """Per core: the cpufreq governor, the current upper limit and frequency (kHz)."""

    governor: dict[int, str] = field(default_factory=dict)
    max_khz: dict[int, int] = field(default_factory=dict)
    cur_khz: dict[int, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> CpuState:
        ints = lambda name: {c: int(v) for c, v in parse_cpufreq(text, name).items() if v.isdigit()}  # noqa: E731
        return cls(parse_cpufreq(text, "scaling_governor"), ints("scaling_max_freq"), ints("scaling_cur_freq"))

    def to_dict(self) -> dict[str, Any]:
        return {k: {str(c): v for c, v in getattr(self, k).items()} for k in ("governor", "max_khz", "cur_khz")}


def read_props(adb: Adb) -> dict[str, str]:
    return parse_getprop(adb.shell("getprop", what="getprop").stdout)


def read_cpu(adb: Adb) -> str:
    return adb.shell(f"grep -H . {CPU_FILES}", what="reading the CPU frequencies").stdout


def read_thermal(adb: Adb) -> dict[str, float]:
    return parse_thermal(adb.shell(f"grep -H . {THERMAL_GLOBS}", what="reading the thermal zones").stdout)


def read_battery(adb: Adb) -> dict[str, float]:
    return parse_battery(adb.shell("dumpsys battery", what="reading the battery").stdout)


# --- the phone ----------------------------------------------------------------------------------------------
@dataclass
class DeviceInfo:
    serial: str
    server: str = "local"  # the adb server it is attached to ("local" or HOST:PORT)
    model: str = ""
    manufacturer: str = ""
    marketname: str = ""
    soc: str = ""  # e.g. "QTI SM8475" (ro.soc.manufacturer + ro.soc.model), else ro.board.platform
    soc_model: str = ""  # ro.soc.model (Android 12 on): what NPU files are matched against
    platform: str = ""  # ro.board.platform
    board: str = ""
    hardware: str = ""
    android_version: str = ""
    sdk: str = ""
    abi: str = ""
    abilist: list[str] = field(default_factory=list)
    cpu_max_freq_khz: dict[int, int] = field(default_factory=dict)
    cpu: CpuState = field(default_factory=CpuState)
    thermal_c: dict[str, float] = field(default_factory=dict)
    battery: dict[str, float] = field(default_factory=dict)

    @property
    def clusters(self) -> list[dict[str, Any]]:
        """Cores grouped by maximum frequency, fastest first (big, then middle, then little)."""
        by_freq: dict[int, list[int]] = {}
        for core, f in self.cpu_max_freq_khz.items():
            by_freq.setdefault(f, []).append(core)
        return [{"cores": sorted(cores), "max_khz": f} for f, cores in sorted(by_freq.items(), reverse=True)]

    @property
    def name(self) -> str:
        product = self.marketname or self.model
        if self.manufacturer and not product.lower().startswith(self.manufacturer.lower()):
            product = f"{self.manufacturer} {product}".strip()
        return product or self.serial

    @property
    def description(self) -> str:
        cpus = " + ".join(f"{len(c['cores'])}x{c['max_khz'] / 1e6:.2f} GHz" for c in self.clusters)
        parts = [self.name]
        if self.marketname and self.model and self.model != self.marketname:
            parts[0] += f" ({self.model})"
        for part in (self.soc, cpus):
            if part:
                parts.append(part)
        if self.android_version:
            parts.append(f"Android {self.android_version} (API {self.sdk})")
        if self.abi:
            parts.append(self.abi)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_max_freq_khz"] = {str(k): v for k, v in self.cpu_max_freq_khz.items()}
        d["cpu"] = self.cpu.to_dict()
        d["clusters"] = self.clusters
        d["name"] = self.name
        d["description"] = self.description
        return d


def device_info(adb: Adb) -> DeviceInfo:
    props = read_props(adb)
    cpu_text = read_cpu(adb)
    soc_model = props.get("ro.soc.model", "")
    soc = " ".join(x for x in (props.get("ro.soc.manufacturer", ""), soc_model) if x)
    abi = props.get("ro.product.cpu.abi", "")
    abilist = [a for a in props.get("ro.product.cpu.abilist", "").split(",") if a] or ([abi] if abi else [])
    return DeviceInfo(
        serial=adb.serial or "",
        server=adb.server.label,
        model=props.get("ro.product.model", ""),
        manufacturer=props.get("ro.product.manufacturer", ""),
        marketname=props.get("ro.product.marketname", ""),
        soc=soc or props.get("ro.board.platform", ""),
        soc_model=soc_model,
        platform=props.get("ro.board.platform", ""),
        board=props.get("ro.product.board") or props.get("ro.board.platform") or props.get("ro.hardware", ""),
        hardware=props.get("ro.hardware", ""),
        android_version=props.get("ro.build.version.release", ""),
        sdk=props.get("ro.build.version.sdk", ""),
        abi=abi,
        abilist=abilist,
        cpu_max_freq_khz=parse_cpu_max_freqs(cpu_text),
        cpu=CpuState.parse(cpu_text),
        thermal_c=read_thermal(adb),
        battery=read_battery(adb),
    )


def soc_mismatch(npu: dict[str, Any] | None, info: DeviceInfo) -> str | None:
    """Why a file compiled for an NPU is not for this device ("not for this SoC"), or None when it is."""
    if not npu:
        return None
    soc = str(npu.get("soc", "")).upper()
    if not info.soc_model:
        return (f"not for this SoC: compiled for {soc}, and the device does not say its SoC (no ro.soc.model, "
                "Android 12 on)")  # fmt: skip
    device = info.soc_model.upper()
    if device != soc:
        from shufflenet.export.formats.npu_qualcomm import SOC_HTP_ARCH

        fix = (f"export with --npu qualcomm:{device} for it" if device in SOC_HTP_ARCH else
               f"{device} has no ahead-of-time Qualcomm target in LiteRT")  # fmt: skip
        return f"not for this SoC: compiled for {soc}, the device is {device} (ro.soc.model); {fix}"
    return None


# --- cores and binaries -------------------------------------------------------------------------------------
def cores_mask(choice: str, max_freqs: dict[int, int]) -> tuple[str, list[int]]:
    """The ``taskset`` hex mask and core list for ``big``, ``little``, ``all`` or an explicit hex mask.

    ``big``: every core faster than the slowest cluster (all cores on a device whose cores are all alike);
    ``little``: the cores of the slowest cluster.
    """
    choice = choice.strip().lower()
    if choice in ("big", "little", "all"):
        if not max_freqs:
            raise BenchError(f"cannot choose '{choice}' cores: the device shows no cpuinfo_max_freq; give a hex mask")
        lowest = min(max_freqs.values())
        if choice == "all":
            cores = sorted(max_freqs)
        elif choice == "little":
            cores = sorted(c for c, f in max_freqs.items() if f == lowest)
        else:
            cores = sorted(c for c, f in max_freqs.items() if f > lowest) or sorted(max_freqs)
    else:
        text = choice.removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]+", text) or int(text, 16) == 0:
            raise BenchError(f"--cores must be big, little, all or a non-zero hex mask, got {choice!r}")
        value = int(text, 16)
        cores = [i for i in range(value.bit_length()) if value >> i & 1]
        if max_freqs and any(c not in max_freqs for c in cores):
            missing = [c for c in cores if c not in max_freqs]
            raise BenchError(f"--cores {choice}: the device has no core(s) {missing} (cores: {sorted(max_freqs)})")
    mask = sum(1 << c for c in cores)
    return f"{mask:x}", cores


_ELF_MACHINES = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86", 243: "riscv64"}


def elf_abi(path: Path) -> str | None:
    """The Android ABI an ELF executable is built for, or None when the file is not an ELF we know."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    byteorder = "little" if head[5] == 1 else "big"
    machine = int.from_bytes(head[18:20], byteorder)
    return _ELF_MACHINES.get(machine, f"elf-machine-{machine}")
