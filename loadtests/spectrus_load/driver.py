"""The locust process: seed, ramp up, measure a window, stop, drain, account, report.

``loadtests/run.py`` starts this as its own process (importing locust monkey-patches the
whole process with gevent) and reads its stdout: one ``@@ {json}`` line per phase, so the
runner samples CPU and the gateways' counters exactly at the window's edges, and a last
line naming the results file. Locust runs through its library API rather than its command
line because the phases need hooks the CLI has no place for: the window opens only when
every user is connected, and after the users stop the gateway sessions must keep
receiving until every message is accounted for.

    python -m spectrus_load.driver --scenario FILE --users N --duration S --config FILE
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import gevent
import locust  # monkey-patches sockets, threads and subprocesses for gevent on import
from locust import User
from locust.env import Environment
from locust.stats import RequestStats, StatsEntry

from spectrus_load.accounting import account
from spectrus_load.plan import Plan, World
from spectrus_load.seed import seed
from spectrus_load.state import SHARED
from spectrus_load.users import VoiceMember, fire_for
from spectrus_load.voice import run_voicegen

log = logging.getLogger("spectrus_load")
MAX_FAILURE_EXAMPLES = 20


def say(event: str, **data: Any) -> None:
    print("@@ " + json.dumps({"event": event, "t": time.monotonic(), **data}), flush=True)


def load_scenario(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def user_classes(module: ModuleType, plan: Plan) -> list[type[User]]:
    found = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, User) and not value.abstract
    }
    unknown = set(plan.counts) - set(found)
    if unknown:
        raise SystemExit(f"plan names user classes the scenario lacks: {sorted(unknown)}")
    classes = []
    for name, cls in found.items():
        cls.fixed_count = plan.counts.get(name, 0)
        if cls.fixed_count:
            classes.append(cls)
    return classes


def rows(stats: RequestStats, seconds: float) -> list[dict[str, Any]]:
    def row(e: StatsEntry) -> dict[str, Any]:
        return {
            "type": e.method,
            "name": e.name,
            "requests": e.num_requests,
            "failures": e.num_failures,
            "per_s": e.num_requests / seconds if seconds > 0 else 0.0,
            "p50": e.get_response_time_percentile(0.5),
            "p95": e.get_response_time_percentile(0.95),
            "p99": e.get_response_time_percentile(0.99),
            "max": e.max_response_time if e.num_requests else 0.0,
        }

    entries = [e for e in stats.entries.values() if e.num_requests]
    return [row(e) for e in sorted(entries, key=lambda e: (e.method or "", e.name))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", type=Path, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    module = load_scenario(args.scenario)
    plan: Plan = module.plan(args.users)
    say("plan", plan=plan.to_json())

    started = time.monotonic()
    world: World = seed(plan.shape, config["api_urls"], config["gateway_urls"], config["media_ca"])
    SHARED.plan, SHARED.world = plan, world
    SHARED.workdir = Path(config["workdir"])
    SHARED.voicegen = Path(config["voicegen"]) if config.get("voicegen") else None
    seed_seconds = time.monotonic() - started
    say("seeded", seconds=seed_seconds, accounts=len(world.accounts))

    classes = user_classes(module, plan)
    env = Environment(user_classes=classes, events=locust.events, stop_timeout=30)
    failures: list[str] = []

    def on_request(request_type: str, name: str, exception: BaseException | None, **_: Any) -> None:
        if exception is not None:
            SHARED.failures += 1
            if len(failures) < MAX_FAILURE_EXAMPLES:
                failures.append(f"{request_type} {name}: {exception!r}"[:400])

    env.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    runner = env.create_local_runner()

    # Ramp: spawn everyone, then wait until every user has logged in (on_start done).
    ramp_started = time.monotonic()
    runner.start(plan.users, spawn_rate=plan.spawn_rate)
    deadline = ramp_started + 60 + plan.users / plan.spawn_rate * 3
    while SHARED.ready < plan.users and time.monotonic() < deadline:
        gevent.sleep(0.1)  # users report in as their on_start ends; nothing else to wait on
    if SHARED.ready < plan.users:
        say("ramp_failed", ready=SHARED.ready, users=plan.users)
    ramp = rows(env.stats, time.monotonic() - ramp_started)
    ramp_seconds = time.monotonic() - ramp_started
    env.stats.reset_all()

    # The measured window.
    SHARED.steady_at = time.monotonic()
    say("steady", ramp_seconds=ramp_seconds, ready=SHARED.ready)
    voice_job = None
    if plan.voice_sessions and SHARED.voicegen is not None:
        voice_job = gevent.spawn(
            run_voicegen,
            SHARED.voicegen,
            list(VoiceMember.voice_sessions),
            SHARED.workdir,
            args.duration - 1.0,
            fire_for(env),
        )
    deliveries_before = sum(s.deliveries for s in SHARED.sessions)
    dispatches_before = sum(sum(s.events.values()) for s in SHARED.sessions)
    gevent.sleep(args.duration)
    window_seconds = time.monotonic() - SHARED.steady_at
    window = rows(env.stats, window_seconds)
    deliveries = sum(s.deliveries for s in SHARED.sessions) - deliveries_before
    dispatches = sum(sum(s.events.values()) for s in SHARED.sessions) - dispatches_before
    posts_in_window = len(SHARED.posts)
    say("window_end", seconds=window_seconds, deliveries=deliveries)

    # Stop: REST users finish the request in flight (stop_timeout), no new storms start.
    SHARED.stopping.set()
    runner.stop()
    say("users_stopped")

    # Drain: wait until every required delivery is in, or give up after drain_timeout.
    # No storm starts any more, so every open interval is what it will be at the end:
    # complete (a spontaneous drop that re-identifies now marks its interval cut again).
    for session in SHARED.sessions:
        if session.interval is not None:
            session.interval.complete = True
    drain_started = time.monotonic()
    while time.monotonic() - drain_started < float(config.get("drain_timeout", 30)):
        if account(SHARED.posts, SHARED.intervals).missing == 0:
            break
        gevent.sleep(0.5)  # deliveries arrive on their own greenlets
    if voice_job is not None:
        SHARED.voice_result = voice_job.get(timeout=180)
    for session in SHARED.sessions:
        session.close()
    for link in VoiceMember.links:
        link.close()
    result = account(SHARED.posts, SHARED.intervals)
    say("drained", seconds=time.monotonic() - drain_started)

    out = {
        "scenario": plan.scenario,
        "plan": plan.to_json(),
        "users": plan.users,
        "ready": SHARED.ready,
        "seed_seconds": seed_seconds,
        "ramp_seconds": ramp_seconds,
        "window_seconds": window_seconds,
        "window": window,
        "ramp": ramp,
        "failures": SHARED.failures,
        "failure_examples": failures,
        "deliveries_in_window": deliveries,
        "dispatches_in_window": dispatches,
        "posts": len(SHARED.posts),
        "posts_in_window": posts_in_window,
        "accounting": result.to_json(),
        "sessions": {
            "identifies": sum(s.identifies for s in SHARED.sessions),
            "resumes": sum(s.resumes for s in SHARED.sessions),
            "drops": sum(s.drops for s in SHARED.sessions),
            "login_retries": sum(s.retries for s in SHARED.sessions),
        },
        "dispatches_received": dict(sum((s.events for s in SHARED.sessions), start=Counter())),
        "voice": SHARED.voice_result,
    }
    results = Path(config["out"])
    results.write_text(json.dumps(out, indent=1))
    say("done", results=str(results))
    runner.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
