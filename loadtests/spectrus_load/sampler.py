"""CPU seconds and peak memory per process of the deployment, sampled with psutil.

A background thread samples every process twice a second and keeps each one's latest CPU
time (so a process killed mid-run keeps what it used until then) and its peak memory.
``snapshot`` gives the CPU times at one instant; the runner takes one at each edge of the
measured window. PostgreSQL is a group (the postmaster and its backends): its CPU counts
the backends that exited too (the postmaster reaps them), and its memory is the sum of PSS,
since RSS would count the shared buffers once per backend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil

INTERVAL = 0.5
MACHINE = "(machine)"


@dataclass
class Watched:
    name: str
    pid: int
    group: bool  # include children (PostgreSQL's backends, the locust process's voicegen)
    cpu: float = 0.0
    peak_mib: float = 0.0
    process: psutil.Process | None = None
    children: dict[int, psutil.Process] = field(default_factory=dict)


class Sampler:
    def __init__(self) -> None:
        self.watched: dict[str, Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def watch(self, name: str, pid: int, *, group: bool = False) -> None:
        with self._lock:
            w = Watched(name, pid, group)
            try:
                w.process = psutil.Process(pid)
            except psutil.NoSuchProcess:
                return
            self.watched[name] = w
            self._sample(w)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def snapshot(self) -> dict[str, float]:
        """CPU seconds (user + system) per watched process, now, and under ``MACHINE`` the
        busy seconds of all cores (what the rest of the machine used shows against it)."""
        with self._lock:
            for w in self.watched.values():
                self._sample(w, memory=False)
            out = {name: w.cpu for name, w in self.watched.items()}
        t = psutil.cpu_times()
        out[MACHINE] = t.user + t.nice + t.system + t.irq + t.softirq + t.steal
        return out

    def peaks(self) -> dict[str, float]:
        with self._lock:
            return {name: w.peak_mib for name, w in self.watched.items()}

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            with self._lock:
                for w in self.watched.values():
                    self._sample(w)

    @staticmethod
    def _sample(w: Watched, memory: bool = True) -> None:
        if w.process is None:
            return
        try:
            with w.process.oneshot():
                t = w.process.cpu_times()
                cpu = t.user + t.system
                mem = 0.0
                if memory:
                    mem = (
                        w.process.memory_full_info().pss if w.group else w.process.memory_info().rss
                    )
                if w.group:
                    cpu += t.children_user + t.children_system  # reaped children
                    for child in w.process.children(recursive=True):
                        w.children.setdefault(child.pid, child)
            if w.group:
                for pid, child in list(w.children.items()):
                    try:
                        ct = child.cpu_times()
                        cpu += ct.user + ct.system
                        if memory:
                            mem += child.memory_full_info().pss
                    except psutil.Error:
                        del w.children[pid]  # exited: from now its time is in the parent's
        except psutil.Error:
            w.process = None  # gone (killed on purpose, or crashed): keep the last values
            return
        w.cpu = max(w.cpu, cpu)
        w.peak_mib = max(w.peak_mib, mem / 2**20)
