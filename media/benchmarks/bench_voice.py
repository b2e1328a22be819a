"""Voice forwarding benchmark: the Spectrus voice router side by side with Mumble's murmurd.

Both servers get the same workloads from the same native load generator
(``loadtests/voicegen``): Opus-sized packets at 50 per second per speaker, speakers spread
over the 20 ms period, every listener decrypting with its own key.

- ``one-to-n``: one room, one speaker, N listeners (N is stepped up).
- ``small-rooms``: many rooms of five, two speakers and three listeners each (rooms stepped up).

For each server, workload and CPU configuration the load is stepped up until loss exceeds
0.1% or the server's CPU (or its busiest thread) reaches about 100%; the highest passing step
is its capacity. Each step aims at the load the previous step's CPU cost predicts for a
saturated server, and the first failure is bisected once. Per step it reports server CPU time per forwarded packet (utime+stime of the whole
server process over exactly the measured window), forwarded packets per second, loss, and
p99 latency (send to kernel arrival at the listener's socket, so the generator's own queueing
is not counted), and per workload the Spectrus/Mumble ratio.

Configurations:

- ``1-core``: the server pinned to core 1 (Spectrus with ``threads=1``), the generator on core 0.
- ``2-core``: nothing pinned, Spectrus with ``threads=2``; the generator (two threads) shares
  both cores with the server, so its CPU use is reported next to the result.

murmurd is Debian's ``mumble-server`` (1.3.4), started on loopback on a free port with a
temporary ini and database, fresh for every step; it is installed with apt-get if missing.
The Spectrus router is ``spectrus_media_native.VoiceRouter`` in a child process of the
project's virtualenv Python (this file, run with ``--serve-spectrus``), also fresh per step,
with its sessions created before the generator starts. Every simulated client has its own
127/8 source address. Servers and generator run SCHED_FIFO (``--no-rt``: nice -15) so
other work on the machine does not take their cores; steps that still look disturbed are
measured again (see ``measure`` in ``find_capacity``).

Keepalives: real Mumble clients send a TCP and a UDP ping every 5 s, Discord clients an
8-byte UDP keepalive. They cost the servers CPU that is not voice forwarding (murmurd's TCP
pings noticeably so), and Spectrus's control plane is not part of the router, so they are off
by default to compare the voice paths alone; ``--keepalives`` sends them every 5 s to both.

Run::

    python media/benchmarks/bench_voice.py            # 10-20 minutes (murmurd's setup of
                                                      # thousands of users dominates)
    python media/benchmarks/bench_voice.py --quick    # short steps, fewer of them

The table is printed as markdown and written with every raw measurement to
``bench-results/voice-<time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VOICEGEN_DIR = REPO / "loadtests" / "voicegen"
TARGET_DIR = REPO / "target"
VOICEGEN = TARGET_DIR / "release" / "voicegen"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
RESULTS_DIR = REPO / "bench-results"

LOSS_LIMIT = 0.001
# A pinned step whose server or generator threads waited for a CPU more than this share of
# the window shared its cores with other work: it is measured again.
NOISY = 0.03
# A server at this share of its cores is saturated: more load only adds loss and latency.
SATURATED = 0.95
PACKETS_PER_SECOND = 50
MUMBLE_USER = "mumble-server"
SUPERUSER_PASSWORD = "voicegen-" + secrets.token_hex(8)


# ---- workloads and configurations ---------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    kind: str
    rooms: int
    speakers_per_room: int
    listeners_per_room: int

    @property
    def sessions(self) -> int:
        return self.rooms * (self.speakers_per_room + self.listeners_per_room)

    @property
    def offered_pps(self) -> int:
        """Deliveries per second the workload asks for: every member but the sender."""
        size = self.speakers_per_room + self.listeners_per_room
        return self.rooms * self.speakers_per_room * (size - 1) * PACKETS_PER_SECOND

    @property
    def label(self) -> str:
        if self.kind == "one-to-n":
            return f"1 speaker -> {self.listeners_per_room} listeners"
        return (
            f"{self.rooms} rooms x ({self.speakers_per_room} speakers + "
            f"{self.listeners_per_room} listeners)"
        )


def make_workload(kind: str, x: int) -> Workload:
    if kind == "one-to-n":
        return Workload(kind, rooms=1, speakers_per_room=1, listeners_per_room=x)
    return Workload(kind, rooms=x, speakers_per_room=2, listeners_per_room=3)


@dataclass(frozen=True)
class Config:
    name: str
    server_cpus: tuple[int, ...] | None
    generator_cpus: tuple[int, ...] | None
    spectrus_threads: int
    generator_threads: int
    cores: int


CONFIGS = {
    "1-core": Config("1-core", (1,), (0,), spectrus_threads=1, generator_threads=1, cores=1),
    "2-core": Config("2-core", None, None, spectrus_threads=2, generator_threads=2, cores=2),
}


# Other work on this machine (builds, test suites) competes for the same two cores and showed
# up as loss at a server's socket and as latency spikes. Servers and generator therefore run
# SCHED_FIFO (the kernel's RT throttling still leaves 5% of each core to everything else), or
# with --no-rt at a high niceness. Both servers get the same treatment. The server outranks
# the generator: unpinned, equal FIFO priorities made a server thread wait behind a
# generator thread that does not yield (FIFO does not time-slice), which cost murmurd loss
# at 70% CPU; now the generator gets what the server leaves, as remote clients would.
SERVER_RT_PRIORITY = 30
GENERATOR_RT_PRIORITY = 20
NICE = -15


def launch_prefix(cpus: tuple[int, ...] | None, rt: bool, priority: int) -> list[str]:
    """Scheduling (``chrt``/``nice``) and, when pinned, ``taskset`` in front of a command."""
    sched = ["chrt", "-f", str(priority)] if rt else ["nice", "-n", str(NICE)]
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    return [*sched, *pin]


def free_port() -> int:
    """A port free for both TCP and UDP on loopback (murmurd uses the same number for both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def wait_for_tcp(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def ensure_murmurd() -> str:
    path = shutil.which("murmurd") or (
        "/usr/sbin/murmurd" if Path("/usr/sbin/murmurd").exists() else None
    )
    if path:
        return path
    cmd = ["apt-get", "install", "-y", "mumble-server"]
    print(f"murmurd is missing; running: {' '.join(cmd)}", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(cmd, env=env, check=False).returncode != 0:
        # A fresh machine may not have package lists yet.
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)
    path = shutil.which("murmurd") or "/usr/sbin/murmurd"
    if not Path(path).exists():
        raise RuntimeError("mumble-server installed but murmurd not found")
    return path


def build_voicegen() -> Path:
    print("building voicegen (cargo build --release)", file=sys.stderr)
    subprocess.run(
        ["cargo", "build", "--release", "--manifest-path", str(VOICEGEN_DIR / "Cargo.toml")],
        env={**os.environ, "CARGO_TARGET_DIR": str(TARGET_DIR)},
        check=True,
    )
    return VOICEGEN


class Murmur:
    """One murmurd on loopback with its own ini, database and SuperUser password.

    As root it runs only through ``runuser -u mumble-server``, with its directory owned by
    that user; the process to measure is runuser's child.
    """

    def __init__(self, murmurd: str, workdir: Path, max_users: int) -> None:
        self.murmurd = murmurd
        self.dir = workdir
        self.max_users = max_users
        self.port = 0
        self.ini = self.dir / "murmur.ini"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self._log: Any = None

    def _write_ini(self) -> None:
        self.ini.write_text(
            "\n".join(
                [
                    f"database={self.dir / 'murmur.sqlite'}",
                    "host=127.0.0.1",
                    f"port={self.port}",
                    f"users={self.max_users}",
                    # Per-client speech limit (bit/s): far above one Opus stream.
                    "bandwidth=558000",
                    # No client is kicked for silence on TCP during a run.
                    "timeout=3600",
                    # Thousands of clients from one address must not be banned.
                    "autobanAttempts=0",
                    # Control-message rate limits: setup sends a burst per client.
                    "messageburst=1000000",
                    "messagelimit=1000000",
                    "channelcountlimit=100000",
                    # No per-connection log rows: SQLite commits made setup I/O bound.
                    "logdays=-1",
                    "opusthreshold=0",
                    "",
                ]
            )
        )

    def _runuser(self, *args: str) -> list[str]:
        return ["runuser", "-u", MUMBLE_USER, "--", self.murmurd, "-ini", str(self.ini), *args]

    def prepare(self) -> None:
        self.port = free_port()
        self._write_ini()
        shutil.chown(self.dir, MUMBLE_USER, MUMBLE_USER)
        for p in self.dir.iterdir():
            shutil.chown(p, MUMBLE_USER, MUMBLE_USER)
        # Sets the SuperUser password in the database and exits; the SuperUser creates the
        # room channels of the many-rooms workload.
        subprocess.run(
            self._runuser("-supw", SUPERUSER_PASSWORD),
            cwd=self.dir,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, cpus: tuple[int, ...] | None, rt: bool) -> None:
        # A fresh port each start: the last one may linger in TIME_WAIT.
        self.port = free_port()
        self._write_ini()
        self._log = (self.dir / "murmurd.log").open("ab")
        self.proc = subprocess.Popen(
            [*launch_prefix(cpus, rt, SERVER_RT_PRIORITY), *self._runuser("-fg")],
            cwd=self.dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self._child_pid(self.proc.pid)
        wait_for_tcp(self.port, 30)

    @staticmethod
    def _child_pid(parent: int) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
                for c in children:
                    if Path(f"/proc/{c}/comm").read_text().strip() == "murmurd":
                        return int(c)
            time.sleep(0.05)
        raise RuntimeError("murmurd did not start under runuser")

    def stop(self) -> None:
        # Killed, not asked: after a step murmurd would otherwise spend a long time
        # broadcasting each departing user to every remaining one. The database holds only
        # the channels and the SuperUser password, which SQLite keeps consistent.
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
        if self.proc is not None:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, 9)
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
        self.proc, self.pid = None, 0


@contextlib.contextmanager
def spectrus_router(
    sessions_file: Path, config: Config, rt: bool
) -> Iterator[tuple[str, int, int, subprocess.Popen[str]]]:
    """A child process serving a VoiceRouter with the given sessions; yields its address,
    pid and process (write ``counters`` to its stdin to read the router's counters)."""
    proc = subprocess.Popen(
        [
            *launch_prefix(config.server_cpus, rt, SERVER_RT_PRIORITY),
            str(VENV_PYTHON),
            str(Path(__file__).resolve()),
            "--serve-spectrus",
            str(sessions_file),
            "--threads",
            str(config.spectrus_threads),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the Spectrus router process exited before it was ready")
        hello = json.loads(line)
        yield hello["host"], int(hello["port"]), int(hello["pid"]), proc
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def router_counters(proc: subprocess.Popen[str]) -> dict[str, int]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("counters\n")
    proc.stdin.flush()
    counters: dict[str, int] = json.loads(proc.stdout.readline())
    return counters


def serve_spectrus(sessions_file: Path, threads: int) -> int:
    """Child process: create the router and its sessions, announce, serve until stdin ends."""
    import spectrus_media_native

    sessions = json.loads(sessions_file.read_text())
    router = spectrus_media_native.VoiceRouter(host="127.0.0.1", port=0, threads=threads)
    for s in sessions:
        router.add_session(
            s["session_id"], s["ssrc"], s["room"], s["mode"], bytes.fromhex(s["key_hex"])
        )
    host, port = router.address
    print(json.dumps({"host": host, "port": port, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "counters":
            print(json.dumps(dict(router.counters())), flush=True)
    router.close()
    return 0


def spectrus_sessions(w: Workload, mode: str) -> list[dict[str, Any]]:
    ssrcs = set[int]()
    while len(ssrcs) < w.sessions:
        ssrcs.add(secrets.randbelow(2**32 - 1) + 1)
    out: list[dict[str, Any]] = []
    ssrc_iter = iter(sorted(ssrcs, key=lambda _: secrets.randbelow(2**32)))
    for room in range(w.rooms):
        for k in range(w.speakers_per_room + w.listeners_per_room):
            out.append(
                {
                    "session_id": len(out) + 1,
                    "ssrc": next(ssrc_iter),
                    # Room id 0 means "in no room" to the router.
                    "room": room + 1,
                    "mode": mode,
                    "key_hex": secrets.token_hex(32),
                    "role": "speaker" if k < w.speakers_per_room else "listener",
                }
            )
    return out


# ---- steps --------------------------------------------------------------------------------


@dataclass
class Step:
    server: str
    workload: str
    config: str
    load: int
    label: str
    offered_pps: int
    forwarded_pps: float
    loss: float
    server_cpu_util: float
    server_us_per_packet: float
    p50_us: int
    p99_us: int
    busiest_thread_util: float
    generator_cpu_util: float
    generator_us_per_packet: float
    # CPU the cores spent on neither the server nor the generator (other work on the machine).
    foreign_cpu: float
    # Share of the window the server's and the generator's busiest threads sat runnable
    # waiting for a CPU: other work taking their cores (or, unpinned, each other).
    contention: float
    rt: bool
    passed: bool
    saturated: bool
    generator_bound: bool
    setup_s: float
    raw: dict[str, Any] = field(repr=False)


@dataclass
class Options:
    duration: float
    warmup: float
    mode: str
    keepalives: bool
    rt: bool
    max_sessions: int
    max_steps: int
    refine: int


def voicegen_common(opts: Options, config: Config, server_pid: int) -> list[str]:
    return [
        "--duration",
        str(opts.duration),
        "--warmup",
        str(opts.warmup),
        "--threads",
        str(config.generator_threads),
        "--server-pid",
        str(server_pid),
    ]


def run_voicegen(args: list[str], config: Config, rt: bool, timeout: float) -> dict[str, Any]:
    cmd = [*launch_prefix(config.generator_cpus, rt, GENERATOR_RT_PRIORITY), str(VOICEGEN), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"voicegen failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def to_step(
    server: str, w: Workload, load: int, config: Config, rt: bool, raw: dict[str, Any]
) -> Step:
    util = float(raw.get("server_cpu_util") or 0.0)
    gen_util = float(raw["generator_cpu_util"])
    threads = raw.get("server_thread_shares") or [[0.0, 0.0]]
    gen_threads = raw.get("generator_thread_shares") or [[0.0, 0.0]]
    busiest = float(threads[0][0])
    ncpu = len(raw.get("core_utils") or []) or (os.cpu_count() or 1)
    foreign = max(0.0, sum(raw.get("core_utils") or []) - util - gen_util)
    # The busiest threads' waits: siblings of the same process queue behind each other by
    # design (murmurd's main and voice threads share its core), the hot threads should not.
    contention = float(threads[0][1]) + float(gen_threads[0][1])
    loss = float(raw["loss_ratio"])
    if config.generator_cpus:
        generator_bound = gen_util >= SATURATED * len(config.generator_cpus)
    else:
        # Unpinned, the generator shares the machine with the server: it is the limit once
        # the two together fill every core.
        generator_bound = util + gen_util >= SATURATED * ncpu
    return Step(
        server=server,
        workload=w.kind,
        config=config.name,
        load=load,
        label=w.label,
        offered_pps=w.offered_pps,
        forwarded_pps=float(raw["forwarded_pps"]),
        loss=loss,
        server_cpu_util=util,
        server_us_per_packet=float(raw.get("server_cpu_us_per_forwarded") or 0.0),
        p50_us=int(raw["latency_us"]["p50"]),
        p99_us=int(raw["latency_us"]["p99"]),
        busiest_thread_util=busiest,
        generator_cpu_util=gen_util,
        generator_us_per_packet=float(raw["generator_us_per_packet"]),
        foreign_cpu=foreign,
        contention=contention,
        rt=rt,
        passed=loss < LOSS_LIMIT,
        # A single-threaded stage cannot use more than one core.
        saturated=util >= SATURATED * config.cores or busiest >= SATURATED,
        generator_bound=generator_bound,
        setup_s=float(raw.get("setup_s", 0.0)),
        raw=raw,
    )


def check_delivery(raw: dict[str, Any]) -> None:
    """Refuses results that did not go the way the benchmark claims."""
    c = raw["counters"]
    problems = []
    if c["decrypt_failures"]:
        problems.append(f"{c['decrypt_failures']} datagrams failed to decrypt")
    if c["misattributed"]:
        problems.append(f"{c['misattributed']} packets named the wrong sender")
    if raw.get("mumble", {}).get("tcp_tunnelled_voice"):
        problems.append("murmurd tunnelled voice over TCP instead of UDP")
    if problems:
        raise RuntimeError("invalid run: " + "; ".join(problems))


def mumble_step(murmur: Murmur, w: Workload, load: int, config: Config, opts: Options) -> Step:
    keepalive = "5" if opts.keepalives else "0"
    # A fresh murmurd per step, as the Spectrus router is.
    murmur.start(config.server_cpus, opts.rt)
    args = [
        "mumble",
        "--server",
        f"127.0.0.1:{murmur.port}",
        "--superuser-password",
        SUPERUSER_PASSWORD,
        "--rooms",
        str(w.rooms),
        "--speakers-per-room",
        str(w.speakers_per_room),
        "--listeners-per-room",
        str(w.listeners_per_room),
        "--tcp-ping",
        keepalive,
        "--udp-ping",
        keepalive,
        *voicegen_common(opts, config, murmur.pid),
    ]
    try:
        raw = run_voicegen(args, config, opts.rt, timeout=1800)
    finally:
        murmur.stop()
    check_delivery(raw)
    return to_step("mumble", w, load, config, opts.rt, raw)


def spectrus_step(w: Workload, load: int, config: Config, opts: Options) -> Step:
    sessions = spectrus_sessions(w, opts.mode)
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        sessions_file = Path(tmp) / "sessions.json"
        sessions_file.write_text(json.dumps(sessions))
        with spectrus_router(sessions_file, config, opts.rt) as (host, port, pid, proc):
            provision = Path(tmp) / "provision.json"
            provision.write_text(json.dumps({"server": f"{host}:{port}", "sessions": sessions}))
            args = [
                "spectrus",
                "--provision",
                str(provision),
                "--udp-keepalive",
                "5" if opts.keepalives else "0",
                *voicegen_common(opts, config, pid),
            ]
            raw = run_voicegen(args, config, opts.rt, timeout=600)
            raw["router_counters"] = router_counters(proc)
    check_delivery(raw)
    return to_step("spectrus", w, load, config, opts.rt, raw)


def step_runner(
    kind: str, config: Config, murmur: Murmur | None, opts: Options
) -> Callable[[int], Step]:
    """One measurement at load x (listeners or rooms) against murmurd, or else Spectrus."""

    def run(x: int) -> Step:
        w = make_workload(kind, x)
        if murmur is not None:
            return mumble_step(murmur, w, x, config, opts)
        return spectrus_step(w, x, config, opts)

    return run


def is_noisy(s: Step) -> bool:
    # Unpinned, server and generator compete for the cores by design; under SCHED_FIFO other
    # work cannot take their cores, and what waiting remains is their own threads queueing.
    return not s.rt and CONFIGS[s.config].server_cpus is not None and s.contention > NOISY


def describe(s: Step) -> str:
    flags = []
    if not s.passed:
        flags.append("LOSS")
    if s.saturated:
        flags.append("cpu-saturated")
    if s.generator_bound:
        flags.append("generator-bound")
    if is_noisy(s):
        flags.append(f"noisy(waited for CPU {s.contention:.1%}, other load {s.foreign_cpu:.0%})")
    return (
        f"{s.server:8} {s.config} {s.label}: {s.forwarded_pps:,.0f} fwd/s, "
        f"loss {s.loss:.4%}, server cpu {s.server_cpu_util:.0%} "
        f"(busiest thread {s.busiest_thread_util:.0%}, {s.server_us_per_packet:.2f} us/pkt), "
        f"p99 {s.p99_us} us, gen cpu {s.generator_cpu_util:.0%} {' '.join(flags)}"
    )


def find_capacity(
    run: Callable[[int], Step], start: int, max_load: int, opts: Options
) -> list[Step]:
    """Steps the load up until loss or saturation, aiming each next step at the load the
    last step's CPU cost predicts for a saturated server; then bisects toward the limit."""
    steps: list[Step] = []

    def measure(x: int) -> Step:
        s = run(x)
        print("  " + describe(s), file=sys.stderr, flush=True)
        cores = CONFIGS[s.config].cores
        if is_noisy(s):
            # Someone else's work shared the cores: measure once more.
            s = run(x)
            print("  (again) " + describe(s), file=sys.stderr, flush=True)
        elif not s.passed and max(s.server_cpu_util / cores, s.busiest_thread_util) < 0.8:
            # Loss far below saturation has come from a stall of the whole VM (generator and
            # server late together): confirm it before it ends the search.
            s = run(x)
            print("  (again) " + describe(s), file=sys.stderr, flush=True)
        steps.append(s)
        return s

    x = start
    failed = False
    for _ in range(opts.max_steps):
        s = measure(x)
        if not s.passed:
            failed = True
            break
        if s.saturated or s.generator_bound:
            return steps
        cores = CONFIGS[s.config].cores
        grow = min(
            SATURATED * cores / max(s.server_cpu_util, 0.05),
            SATURATED / max(s.busiest_thread_util, 0.05),
        )
        nxt = min(math.ceil(x * min(max(grow, 1.15), 2.0)), max_load)
        if nxt <= x:
            return steps
        x = nxt
    if not failed:
        return steps
    for _ in range(opts.refine):
        passing = [s.load for s in steps if s.passed]
        if not passing:
            break
        lo = max(passing)
        above = [s.load for s in steps if s.load > lo]
        if not above:
            break
        hi = min(above)
        mid = (lo + hi) // 2
        if mid <= lo or hi - lo < max(2, lo // 20):
            break
        measure(mid)
    return steps


def best(steps: list[Step]) -> Step | None:
    ok = [s for s in steps if s.passed]
    return max(ok, key=lambda s: s.forwarded_pps, default=None)


# ---- report -------------------------------------------------------------------------------


def fmt_row(server: str, s: Step | None, cores: int) -> str:
    if s is None:
        return f"| {server} | no passing step |" + " |" * 9
    per_core = s.forwarded_pps / cores
    per_cpu_s = 1e6 / s.server_us_per_packet if s.server_us_per_packet else 0.0
    return (
        f"| {server} | {s.label} | {s.forwarded_pps:,.0f} | {per_core:,.0f} "
        f"| {s.server_us_per_packet:.2f} | {per_cpu_s:,.0f} | {s.server_cpu_util:.0%} "
        f"| {s.busiest_thread_util:.0%} | {s.loss:.3%} | {s.p99_us:,} "
        f"| {s.generator_cpu_util:.0%} |"
    )


def capacity_note(s: Step, steps: list[Step]) -> str | None:
    """Why the best step is where it is, when it is not a saturated server."""
    if s.generator_bound:
        return (
            f"{s.server}: the generator was the limit at its best step "
            "(server capacity is higher than shown)."
        )
    if s.saturated:
        return None if not is_noisy(s) else f"{s.server}: other work shared the cores."
    if any(t.load > s.load and not t.passed for t in steps):
        near = s.busiest_thread_util >= 0.9 or s.server_cpu_util >= 0.9 * CONFIGS[s.config].cores
        where = "near its CPU limit" if near else "before its CPU saturated"
        return (
            f"{s.server}: the next step lost >0.1% {where} "
            f"(best step at {s.server_cpu_util:.0%} CPU, busiest thread "
            f"{s.busiest_thread_util:.0%})."
        )
    return f"{s.server}: stopped at the step limit at {s.server_cpu_util:.0%} CPU."


def table(
    results: dict[str, dict[str, dict[str, list[Step]]]],
) -> tuple[str, list[dict[str, Any]]]:
    lines = []
    summary: list[dict[str, Any]] = []
    for workload, per_config in results.items():
        for config_name, per_server in per_config.items():
            cores = CONFIGS[config_name].cores
            lines.append(f"\n### {workload}, {config_name}\n")
            lines.append(
                "| server | highest passing step | fwd pkt/s | fwd pkt/s per core "
                "| CPU us per fwd pkt | fwd pkt per CPU-s | server CPU | busiest thread "
                "| loss | p99 latency us | generator CPU |"
            )
            lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
            bests = {srv: best(steps) for srv, steps in per_server.items()}
            for srv, b in bests.items():
                lines.append(fmt_row(srv, b, cores))
            row: dict[str, Any] = {
                "workload": workload,
                "config": config_name,
                "cores": cores,
                **{f"{k}_best": asdict(v) | {"raw": None} for k, v in bests.items() if v},
            }
            m, sp = bests.get("mumble"), bests.get("spectrus")
            if m and sp:
                ratio = sp.forwarded_pps / m.forwarded_pps
                cpu_ratio = (
                    m.server_us_per_packet / sp.server_us_per_packet
                    if sp.server_us_per_packet
                    else math.inf
                )
                lines.append(
                    f"\nSpectrus/Mumble: **{ratio:.2f}x** forwarded packets/s per core at "
                    f"<0.1% loss; **{cpu_ratio:.2f}x** less server CPU per forwarded packet."
                )
                row |= {"ratio_forwarded_pps": ratio, "ratio_cpu_per_packet": cpu_ratio}
            notes = [
                n
                for srv, b in bests.items()
                if b is not None and (n := capacity_note(b, per_server[srv])) is not None
            ]
            if config_name == "2-core":
                notes.append(
                    "In this configuration the generator shares both cores with the server "
                    "(its CPU use is in the table)."
                )
            lines.extend(f"- {n}" for n in notes)
            row["notes"] = notes
            summary.append(row)
    return "\n".join(lines), summary


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="short steps, fewer of them")
    p.add_argument("--duration", type=float, help="measured seconds per step")
    p.add_argument("--warmup", type=float, help="warm-up seconds per step")
    p.add_argument("--servers", default="mumble,spectrus")
    p.add_argument("--workloads", default="one-to-n,small-rooms")
    p.add_argument("--configs", default="1-core,2-core")
    p.add_argument("--mode", default="aead_aes256_gcm_rtpsize", help="Spectrus AEAD mode")
    p.add_argument(
        "--keepalives", action="store_true", help="clients' keepalives every 5 s (both servers)"
    )
    p.add_argument("--start-listeners", type=int, default=1000, help="one-to-n first step")
    p.add_argument("--start-rooms", type=int, default=150, help="small-rooms first step")
    p.add_argument("--max-sessions", type=int, default=8000)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--refine", type=int, help="bisection steps after the first failure")
    p.add_argument(
        "--no-rt", action="store_true", help="run servers and generator at nice -15, not SCHED_FIFO"
    )
    p.add_argument("--out", type=Path)
    p.add_argument("--serve-spectrus", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def spectrus_available() -> bool:
    if not VENV_PYTHON.exists():
        return False
    r = subprocess.run(
        [str(VENV_PYTHON), "-c", "import spectrus_media_native"],
        capture_output=True,
        check=False,
    )
    return r.returncode == 0


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    if a.serve_spectrus:
        return serve_spectrus(a.serve_spectrus, a.threads)
    opts = Options(
        duration=a.duration or (2.0 if a.quick else 4.0),
        warmup=a.warmup or (1.0 if a.quick else 1.5),
        mode=a.mode,
        keepalives=a.keepalives,
        rt=not a.no_rt,
        max_sessions=a.max_sessions,
        max_steps=a.max_steps or (4 if a.quick else 6),
        refine=a.refine if a.refine is not None else (0 if a.quick else 1),
    )
    servers = [s for s in a.servers.split(",") if s]
    workloads = [w for w in a.workloads.split(",") if w]
    configs = [CONFIGS[c] for c in a.configs.split(",") if c]
    if os.cpu_count() is not None and (os.cpu_count() or 0) < 2:
        print(
            "this benchmark pins server and generator to separate cores: needs 2", file=sys.stderr
        )
        return 2
    build_voicegen()
    if "spectrus" in servers and not spectrus_available():
        print(
            f"spectrus_media_native is not importable with {VENV_PYTHON}; "
            "skipping the Spectrus half (build it with `uv sync`)",
            file=sys.stderr,
        )
        servers.remove("spectrus")
    murmurd = ensure_murmurd() if "mumble" in servers else ""

    starts = {"one-to-n": a.start_listeners, "small-rooms": a.start_rooms}
    max_loads = {"one-to-n": opts.max_sessions - 1, "small-rooms": opts.max_sessions // 5}
    results: dict[str, dict[str, dict[str, list[Step]]]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-voice-murmur-") as mdir:
        # mkdtemp makes it 0700 for root; murmurd, as mumble-server, must reach its subfolder.
        Path(mdir).chmod(0o755)
        for config in configs:
            for server in servers:
                murmur: Murmur | None = None
                if server == "mumble":
                    murmur = Murmur(murmurd, Path(mdir) / config.name, opts.max_sessions + 10)
                    murmur.dir.mkdir()
                    murmur.prepare()
                try:
                    for kind in workloads:
                        print(f"{server} / {kind} / {config.name}", file=sys.stderr, flush=True)

                        run = step_runner(kind, config, murmur, opts)
                        steps = find_capacity(run, starts[kind], max_loads[kind], opts)
                        results.setdefault(kind, {}).setdefault(config.name, {})[server] = steps
                finally:
                    if murmur is not None:
                        murmur.stop()

    text, summary = table(results)
    header = (
        f"## Voice forwarding: Spectrus vs Mumble (murmurd 1.3.4)\n\n"
        f"{PACKETS_PER_SECOND} packets/s per speaker, 120-byte payloads, "
        f"{opts.duration:g} s measured after {opts.warmup:g} s warm-up per step; "
        f"capacity = highest step with <{LOSS_LIMIT:.1%} loss. "
        f"Spectrus mode {opts.mode}. Client keepalives "
        f"{'on' if opts.keepalives else 'off'}. Latency: send to kernel arrival at "
        f"the listener. Took {time.monotonic() - started:.0f} s."
    )
    print(header + "\n" + text)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = a.out or RESULTS_DIR / f"voice-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "options": asdict(opts),
                "summary": summary,
                "steps": {
                    kind: {
                        cfg: {srv: [asdict(s) for s in steps] for srv, steps in per_srv.items()}
                        for cfg, per_srv in per_cfg.items()
                    }
                    for kind, per_cfg in results.items()
                },
                "markdown": header + "\n" + text,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
