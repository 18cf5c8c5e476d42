"""TEST DOUBLE of one Android phone behind adbd's wire protocol.

What it says about itself is recorded from real devices (``../device_recordings``, sources in its README):
``getprop`` verbatim, the cpufreq and thermal-zone files as the kernel listed them, ``dumpsys battery`` verbatim; a
``benchmark_model`` run replays a recorded output (``../shared/fixtures/benchmark_model``). The harness's command
vocabulary is all its shell knows: ``getprop``, ``grep -H . FILES``, ``dumpsys battery``, ``cat``, ``chmod``,
``rm -f``, ``mkdir -p``, ``kill -9 PID``, ``logcat -c`` / ``logcat -d ...`` and a run in the background, ``[VAR=v
...] [taskset MASK] PROG ARGS > OUT 2>&1 & echo $! > PIDFILE; wait $!``, where PROG is ``benchmark_model`` or,
called with ``--model_path``, ExecuTorch's ``executor_runner`` (it replays recorded runner outputs and logcat text;
its warm-up invocation, ``--num_executions`` = ``pte_warmup``, prints nothing). Sync serves stat (v1 and v2), push
and pull.

``Behaviour`` sets what a lab shows and a recording cannot: how long a run takes, how much it warms the phone
and how fast the phone cools (every zone moves by the same degrees, in the unit that zone reports), a cap on the
fastest cores' ``scaling_max_freq`` while hot, a run that hangs until killed, crashes or fails, a delegate that is
missing, a full disk, and the phone vanishing during a run (its port closes: an unplugged cable).
"""

from __future__ import annotations

import glob
import re
import shlex
import stat
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .wire import Connection, Listener, Stream

DEVICE_FIXTURES = Path(__file__).resolve().parents[1] / "device_recordings"
BM_FIXTURES = Path(__file__).resolve().parents[4].parent / "shared" / "fixtures" / "benchmark_model"
ELF_MACHINES = {"arm64-v8a": 183, "armeabi-v7a": 40, "x86_64": 62, "x86": 3}
DELEGATE_NAMES = {"gpu": "GPU", "nnapi": "NNAPI", "xnnpack": "XNNPACK", "npu": "NPU"}
FEATURES = "shell_v2,stat_v2,ls_v2,fixed_push_mkdir"
SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT = 1, 2, 3
SYNC_DATA_MAX = 64 * 1024
RUN = re.compile(r"^(?P<cmd>.+?) > (?P<out>\S+) 2>&1 & echo \$! > (?P<pid>\S+); wait \$!$")


@dataclass(frozen=True)
class Profile:
    """Which recorded outputs a phone answers with (file names in ``DEVICE_FIXTURES``)."""

    getprop: str
    cpufreq: str
    thermal: str  # thermal_<name>_type.txt and thermal_<name>_temp.txt
    battery: str

    def files(self) -> list[Path]:
        names = [self.getprop, self.cpufreq, f"thermal_{self.thermal}_type.txt", f"thermal_{self.thermal}_temp.txt",
                 self.battery]  # fmt: skip
        return [DEVICE_FIXTURES / n for n in names]


# getprop of one real phone with the cpufreq and thermal listings of other real Qualcomm devices and the battery
# service of yet another device (device_recordings/README.md).
PROFILES = {
    "xiaomi_12s_pro": Profile(
        "getprop_xiaomi_12s_pro_sm8475.txt", "cpufreq_sdm850.txt", "msm8953", "battery_pixel_c.txt"
    ),
    "xiaomi_14": Profile("getprop_xiaomi_14_sm8650.txt", "cpufreq_sdm850.txt", "msm8953", "battery_samsung.txt"),
}
BM_OUTPUTS = ("linux_42507.txt", "android_logcat_56301.txt", "legacy_r1.13_25904.txt", "percentiles_line.txt")


def fixtures_missing() -> list[Path]:
    wanted = [p for prof in PROFILES.values() for p in prof.files()] + [BM_FIXTURES / n for n in BM_OUTPUTS]
    return [p for p in wanted if not p.is_file()]


@dataclass
class Behaviour:
    outputs: list[str] = field(default_factory=lambda: ["linux_42507.txt"])  # replayed in turn
    output_text: str | None = None  # this text instead of a recorded output
    run_s: float = 0.0  # how long each benchmark_model run takes
    exit_code: int = 0
    crash_signal: int | None = None
    delegates: tuple[str, ...] = ("cpu", "xnnpack")
    heat_per_run_c: float = 0.0
    start_heat_c: float = 0.0
    cool_c_per_s: float = 0.0
    throttle_above_c: float | None = None  # fastest cores capped while the phone is this much warmer
    vanish_on_run: int | None = None  # the phone disappears during its N-th run (1-based)
    hang_on_run: int | None = None  # its N-th run never ends until killed
    free_bytes: int | None = None
    noexec: bool = False
    unauthorized: bool = False  # asks for a key nobody accepts
    silent: bool = False  # adbd accepts the connection and answers nothing
    pte_outputs: list[str] = field(default_factory=list)  # paths of recorded executor_runner outputs, in turn
    pte_logcat: list[str] = field(default_factory=list)  # paths of recorded logcat text, one per timed run
    pte_warmup: int = -1  # the --num_executions of the warm-up invocation


def parse_getprop(text: str) -> dict[str, str]:
    # \r?: a dump captured through adb on Windows ends its lines with CRLF
    return {m.group(1): m.group(2) for m in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\r?$", text, re.MULTILINE)}


def sysfs_listing(text: str) -> dict[str, str]:
    """{path: value} from ``grep . FILES`` output; a line not starting with ``/sys/`` continues the one before
    (the line wrapping of a mailed listing)."""
    files: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if line.startswith("/sys/"):
            last, _, value = line.partition(":")
            files[last] = value
        elif last is not None:
            files[last] += line
    return files


class Phone:
    """One phone on its own loopback port; ``serial`` is what ``adb connect`` names it."""

    def __init__(self, root: Path, profile: Profile, behaviour: Behaviour | None = None) -> None:
        self.root = root
        self.behaviour = b = behaviour or Behaviour()
        # bytes, not read_text(): a dump's CRLF line endings reach the harness as recorded
        self.getprop_text = (DEVICE_FIXTURES / profile.getprop).read_bytes().decode()
        self.props = parse_getprop(self.getprop_text)
        self.battery_text = (DEVICE_FIXTURES / profile.battery).read_text()
        self.modes: dict[str, int] = {}
        self.shell_lines: list[str] = []
        self.run_spans: list[tuple[float, float]] = []
        self.runs = 0
        self.pushed: list[str] = []
        self._logcat = ""
        self._pte_runs = 0
        self._lock = threading.Lock()
        self._heat = b.start_heat_c
        self._heat_t = time.monotonic()
        self._running: dict[int, threading.Event] = {}
        self._gone = threading.Event()
        self._build_sysfs(profile)
        self.listener = Listener(lambda sock: Connection(sock, self.banner, self.serve, b.unauthorized, b.silent))

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.listener.port}"

    @property
    def model(self) -> str:
        return self.props.get("ro.product.model", "")

    def vanish(self) -> None:
        """Unplugged: the port closes and every connection drops."""
        self._gone.set()
        self.listener.stop()

    stop = vanish

    def replug(self, **behaviour) -> None:
        """Back on the same port (a rebooted phone, a cable plugged in again), with new behaviour; the adb server
        reconnects to it by itself."""
        for k, v in behaviour.items():
            setattr(self.behaviour, k, v)
        self._gone.clear()
        b = self.behaviour
        self.listener = Listener(lambda sock: Connection(sock, self.banner, self.serve, b.unauthorized, b.silent),
                                 port=self.listener.port)  # fmt: skip

    def revoke(self) -> None:
        """The user revokes the computer's key: the link drops and the phone asks for a key again."""
        self.behaviour.unauthorized = True
        for conn in list(self.listener.connections):
            conn.kill()

    def banner(self) -> bytes:
        p = self.props
        fields = ";".join(f"{k}={p.get(k, '')}" for k in ("ro.product.name", "ro.product.model", "ro.product.device"))
        return f"device::{fields};features={FEATURES}".encode()

    # --- files ------------------------------------------------------------------------------------------------
    def local(self, device_path: str) -> Path:
        if not device_path.startswith("/") or ".." in device_path.split("/"):
            raise ValueError(device_path)
        return self.root / device_path.lstrip("/")

    def _build_sysfs(self, profile: Profile) -> None:
        (self.root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
        for path, value in sysfs_listing((DEVICE_FIXTURES / profile.cpufreq).read_text()).items():
            self.local(path).parent.mkdir(parents=True, exist_ok=True)
            self.local(path).write_text(value + "\n")
        types = (DEVICE_FIXTURES / f"thermal_{profile.thermal}_type.txt").read_text().split()
        temps = (DEVICE_FIXTURES / f"thermal_{profile.thermal}_temp.txt").read_text().split()
        zones = sorted(f"thermal_zone{i}" for i in range(len(types)))  # the order `cat */type` listed them in
        for zone, kind, temp in zip(zones, types, temps, strict=True):
            d = self.root / "sys/class/thermal" / zone
            d.mkdir(parents=True, exist_ok=True)
            (d / "type").write_text(kind + "\n")
            (d / "temp").write_text(temp + "\n")

    def heat_c(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._heat = max(0.0, self._heat - self.behaviour.cool_c_per_s * (now - self._heat_t))
            self._heat_t = now
            return self._heat

    def _warm(self, degrees: float) -> None:
        self.heat_c()
        with self._lock:
            self._heat += degrees

    def read(self, device_path: str) -> str | None:
        """A file's text as the phone shows it now (thermal zones and capped frequencies move)."""
        p = self.local(device_path)
        if not p.is_file():
            return None
        text = p.read_text()
        if re.fullmatch(r"/sys/class/thermal/thermal_zone\d+/temp", device_path):
            raw = int(text)
            if raw > 0:  # zero and negative readings are sentinels of absent sensors: they stay
                unit = 1000 if raw >= 1000 else 10 if raw >= 100 else 1
                return f"{raw + round(self.heat_c() * unit)}\n"
        b = self.behaviour
        if device_path.endswith("/scaling_max_freq") and b.throttle_above_c is not None:
            if self.heat_c() >= b.throttle_above_c and self._fastest(device_path):
                avail = self.read(device_path.replace("scaling_max_freq", "scaling_available_frequencies")) or ""
                freqs = sorted(int(f) for f in avail.split())
                return f"{freqs[len(freqs) // 2]}\n"
        return text

    def _fastest(self, device_path: str) -> bool:
        mine = self.local(device_path.replace("scaling_max_freq", "cpuinfo_max_freq")).read_text().strip()
        every = glob.glob(str(self.root / "sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq"))
        return int(mine) == max(int(Path(f).read_text()) for f in every)

    # --- services ---------------------------------------------------------------------------------------------
    def serve(self, service: str, stream: Stream) -> None:
        if service.startswith("shell"):
            args, _, command = service.partition(":")
            out, err, rc = self.shell(command, stream)
            if "v2" in args.split(","):
                packets = b""
                for sid, data in ((SHELL_STDOUT, out), (SHELL_STDERR, err)):
                    if data:
                        packets += struct.pack("<BI", sid, len(data)) + data.encode()
                if rc is not None:  # None: the phone vanished mid-command, no exit status ever arrives
                    packets += struct.pack("<BI", SHELL_EXIT, 1) + bytes([rc & 0xFF])
                stream.write(packets)
            else:
                stream.write((out + err).encode())
        elif service == "sync:":
            self.sync(stream)

    def shell(self, line: str, stream: Stream) -> tuple[str, str, int | None]:
        with self._lock:
            self.shell_lines.append(line)
        m = RUN.match(line)
        if m:
            return self.run(m.group("cmd"), m.group("out"), m.group("pid"), stream)
        args = shlex.split(line)
        name, rest = (args[0], args[1:]) if args else ("", [])
        if name == "logcat":
            if "-c" in rest:
                self._logcat = ""
                return "", "", 0
            return (self._logcat, "", 0) if "-d" in rest else ("", "logcat: only -c and -d here\n", 1)
        if name == "getprop" and not rest:
            return self.getprop_text, "", 0
        if name == "dumpsys" and rest == ["battery"]:
            return self.battery_text, "", 0
        if name == "grep" and rest[:2] == ["-H", "."]:
            return self.grep(rest[2:])
        if name == "cat" and len(rest) == 1:
            text = self.read(rest[0])
            return (text, "", 0) if text is not None else ("", f"cat: {rest[0]}: No such file or directory\n", 1)
        if name == "chmod" and len(rest) >= 2:
            for pth in rest[1:]:
                if not self.local(pth).exists():
                    return "", f"chmod: {pth}: No such file or directory\n", 1
                self.modes[pth] = int(rest[0], 8)
            return "", "", 0
        if name == "rm":
            for pth in (a for a in rest if not a.startswith("-")):
                self.local(pth).unlink(missing_ok=True)
                self.modes.pop(pth, None)
            return "", "", 0
        if name == "mkdir":
            for pth in (a for a in rest if not a.startswith("-")):
                self.local(pth).mkdir(parents=True, exist_ok=True)
            return "", "", 0
        if name == "kill" and rest[:1] == ["-9"] and len(rest) == 2 and rest[1].isdigit():
            killed = self._running.get(int(rest[1]))
            if killed is None:
                return "", f"/system/bin/sh: kill: {rest[1]}: No such process\n", 1
            killed.set()
            return "", "", 0
        return "", f"/system/bin/sh: {name}: inaccessible or not found\n", 127

    def grep(self, patterns: list[str]) -> tuple[str, str, int]:
        out, err = [], []
        for pattern in patterns:
            matches = sorted(glob.glob(str(self.local(pattern)))) if any(c in pattern for c in "*?[") else (
                [str(self.local(pattern))] if self.local(pattern).exists() else [])  # fmt: skip
            if not matches:
                err.append(f"grep: {pattern}: No such file or directory\n")
            for m in matches:
                device_path = "/" + str(Path(m).relative_to(self.root))
                out += [f"{device_path}:{ln}\n" for ln in (self.read(device_path) or "").splitlines() if ln]
        return "".join(out), "".join(err), 0 if out else (2 if err else 1)

    # --- a benchmark run --------------------------------------------------------------------------------------
    def run(self, command: str, out_path: str, pid_path: str, stream: Stream) -> tuple[str, str, int | None]:
        b = self.behaviour
        with self._lock:
            self.runs += 1
            number = self.runs
        pid = 4000 + number
        self.local(pid_path).write_text(f"{pid}\n")
        start = time.monotonic()
        try:
            rc = self._run(shlex.split(command), out_path, pid, number, stream)
        finally:
            self.run_spans.append((start, time.monotonic()))
        if rc is None:
            return "", "", None
        if rc >= 128 and b.crash_signal:
            return "", "Segmentation fault \n" if b.crash_signal == 11 else "Aborted \n", rc
        return "", "", rc

    def _run(self, argv: list[str], out_path: str, pid: int, number: int, stream: Stream) -> int | None:
        b = self.behaviour
        out = self.local(out_path)
        env = {}
        while argv and "=" in argv[0] and not argv[0].startswith(("/", "-")):
            k, v = argv.pop(0).split("=", 1)
            env[k] = v
        if argv[:1] == ["taskset"]:
            mask = int(argv[1], 16)
            cores = len(glob.glob(str(self.root / "sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq")))
            if mask == 0 or mask >> cores:
                out.write_text("taskset: sched_setaffinity: Invalid argument\n")
                return 1
            argv = argv[2:]
        prog = argv[0]
        local = self.local(prog)
        if not local.is_file():
            out.write_text(f"/system/bin/sh: {prog}: inaccessible or not found\n")
            return 127
        if b.noexec or not self.modes.get(prog, 0) & 0o111:
            out.write_text(f"/system/bin/sh: {prog}: can't execute: Permission denied\n")
            return 126
        head = local.read_bytes()[:20]
        abi = self.props.get("ro.product.cpu.abi", "arm64-v8a")
        if head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") != ELF_MACHINES.get(abi):
            out.write_text(f"/system/bin/sh: {prog}: not executable: {64 if head[4] == 2 else 32}-bit ELF file\n")
            return 126
        if b.vanish_on_run == number:
            self.vanish()
            return None
        flags = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
        if "model_path" in flags:
            return self._executor_runner(flags, out)
        graph = flags.get("graph", "")
        header = f"STARTING!\nLog parameter values verbosely: [0]\nGraph: [{graph}]\n"
        if not graph or not self.local(graph).is_file():
            out.write_text(f"STARTING!\nGraph: [{graph}]\nModel file doesn't exist\nBenchmarking failed.\n")
            return 1
        delegate = next((d for d in ("gpu", "nnapi", "xnnpack", "npu") if flags.get(f"use_{d}") == "true"), "cpu")
        if delegate not in b.delegates:
            out.write_text(f"{header}Loaded model {graph}\nFailed to apply {DELEGATE_NAMES[delegate]} delegate.\n"
                           "Benchmarking failed.\n")  # fmt: skip
            return 1
        if delegate == "npu":
            libs = flags.get("dispatch_library_dir", "")
            found = libs and glob.glob(str(self.local(libs + "/libLiteRtDispatch_*.so")))
            if not found or libs not in env.get("LD_LIBRARY_PATH", "").split(":"):
                out.write_text(f"{header}Loaded model {graph}\nFailed to load the dispatch library from [{libs}]\n"
                               "Benchmarking failed.\n")  # fmt: skip
                return 1
        killed = threading.Event()
        self._running[pid] = killed
        try:
            if b.hang_on_run == number:
                out.write_text(header + f"Loaded model {graph}\n")
                while not killed.wait(0.05) and not self._gone.is_set():
                    pass
                return 128 + 9
            if killed.wait(b.run_s):
                return 128 + 9
        finally:
            self._running.pop(pid, None)
        self._warm(b.heat_per_run_c)
        if b.output_text is not None:
            text = b.output_text
        else:
            text = (BM_FIXTURES / b.outputs[(number - 1) % len(b.outputs)]).read_text()
        if b.crash_signal:
            out.write_text(header + (text.splitlines()[0] + "\n" if text else ""))
            return 128 + b.crash_signal
        out.write_text(header + text)
        return b.exit_code

    def _executor_runner(self, flags: dict[str, str], out: Path) -> int:
        b = self.behaviour
        model = flags["model_path"]
        if not self.local(model).is_file():
            out.write_text(f"{model}: No such file or directory\n")
            return 1
        if flags.get("num_executions") == str(b.pte_warmup):
            out.write_text("")
            return 0
        n, self._pte_runs = self._pte_runs, self._pte_runs + 1
        self._logcat = Path(b.pte_logcat[n % len(b.pte_logcat)]).read_text() if b.pte_logcat else ""
        self._warm(b.heat_per_run_c)
        out.write_text(Path(b.pte_outputs[n % len(b.pte_outputs)]).read_text() if b.pte_outputs else "")
        return b.exit_code

    # --- sync: stat, push, pull -------------------------------------------------------------------------------
    def sync(self, stream: Stream) -> None:
        while True:
            head = stream.read(8)
            if head is None:
                return
            cid, n = head[:4], struct.unpack("<I", head[4:])[0]
            if cid == b"QUIT":
                return
            raw = stream.read(n)
            if raw is None:
                return
            path = raw.decode(errors="replace")
            if cid in (b"STA2", b"LST2"):
                stream.write(cid + self._stat2(path))
            elif cid == b"STAT":
                st = struct.unpack("<4sIQQIIIIQqqq", b"STA2" + self._stat2(path))
                stream.write(b"STAT" + struct.pack("<III", st[4], st[8] & 0xFFFFFFFF, st[10] & 0xFFFFFFFF))
            elif cid == b"SEND":
                if not self._receive(path, stream):
                    return
            elif cid == b"RECV":
                self._send(path, stream)
            elif cid == b"LIST":
                stream.write(b"DONE" + bytes(16))
            else:
                self._fail(stream, f"unknown sync request {cid!r}")
                return

    def _stat2(self, path: str) -> bytes:
        p = self.local(path)
        if not p.exists():
            return struct.pack("<IQQIIIIQqqq", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)  # ENOENT
        st = p.stat()
        mode = (stat.S_IFDIR | 0o771) if p.is_dir() else (stat.S_IFREG | self.modes.get(path, 0o644))
        t = int(st.st_mtime)
        return struct.pack("<IQQIIIIQqqq", 0, 1, st.st_ino, mode, 1, 2000, 2000, st.st_size, t, t, t)

    def _fail(self, stream: Stream, message: str) -> None:
        stream.write(b"FAIL" + struct.pack("<I", len(message)) + message.encode())

    def _receive(self, spec: str, stream: Stream) -> bool:
        path, _, mode = spec.rpartition(",")
        data = bytearray()
        while True:
            head = stream.read(8)
            if head is None:
                return False
            cid, n = head[:4], struct.unpack("<I", head[4:])[0]
            if cid == b"DONE":
                break
            chunk = stream.read(n)
            if cid != b"DATA" or chunk is None:
                return False
            data += chunk
        free = self.behaviour.free_bytes
        used = sum(f.stat().st_size for f in (self.root / "data").rglob("*") if f.is_file())
        if free is not None and used + len(data) > free:
            self._fail(stream, "write failed: No space left on device")
            return True
        target = self.local(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bytes(data))
        self.pushed.append(path)
        self.modes[path] = int(mode) & 0o777 if mode.isdigit() else 0o644
        stream.write(b"OKAY" + bytes(4))
        return True

    def _send(self, path: str, stream: Stream) -> None:
        p = self.local(path)
        if not p.is_file():
            self._fail(stream, "No such file or directory")
            return
        data = p.read_bytes()
        for start in range(0, len(data), SYNC_DATA_MAX):
            chunk = data[start : start + SYNC_DATA_MAX]
            stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        stream.write(b"DONE" + bytes(4))
