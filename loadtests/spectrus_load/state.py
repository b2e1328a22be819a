"""What the locust process's users share: the plan, the seeded world, and the records the
accounting reads. The driver fills it before any user starts; users only append to it.

gevent runs every user in one OS thread, so plain lists and counters need no locks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent.event

from spectrus_load.accounting import Interval, Post
from spectrus_load.plan import Plan, World

if TYPE_CHECKING:
    from spectrus_load.gateway_ws import GatewaySession


@dataclass
class Shared:
    plan: Plan | None = None
    world: World | None = None
    voicegen: Path | None = None
    workdir: Path = Path()
    posts: list[Post] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    sessions: list[GatewaySession] = field(default_factory=list)
    ready: int = 0  # users whose on_start finished (logged in, joined voice)
    started: Counter[str] = field(default_factory=Counter)  # per class: users made so far
    failures: int = 0
    steady_at: float = 0.0  # monotonic start of the measured window
    # Set at the end of the measured window: storms and new work stop.
    stopping: gevent.event.Event = field(default_factory=gevent.event.Event)
    voice_result: dict[str, Any] | None = None

    def next_index(self, cls: str) -> int:
        index = self.started[cls]
        self.started[cls] += 1
        return index

    def require(self) -> tuple[Plan, World]:
        if self.plan is None or self.world is None:
            raise RuntimeError(
                "no world: run scenarios through loadtests/run.py (it deploys, seeds and "
                "drives locust), not with the locust command alone"
            )
        return self.plan, self.world


SHARED = Shared()
