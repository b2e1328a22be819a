"""The load-test scenarios, each at a small scale for a short bounded window, headless
against a real local deployment (PostgreSQL, a three-node Redis cluster, two api and two
gateway processes, a media node): no request may fail and every message must reach every
gateway session that had to see it exactly once (``loadtests/run.py`` checks it and exits
non-zero otherwise; the JSON it writes is checked here again). The reconnect storm also
SIGKILLs a gateway mid-window; the voice evening sends real UDP audio through voicegen.

locust monkey-patches whatever process imports it with gevent, so it never enters this
one: ``run.py`` runs in a subprocess, and starts locust in its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(ROOT / "loadtests"))  # the accounting is plain Python (no locust)

from spectrus_load.accounting import Interval, Post, account  # noqa: E402

# (scenario, users, measured seconds): small enough that the file takes about two minutes.
SCENARIOS = [
    ("busy_guild", 24, 10),
    ("many_small_guilds", 32, 10),
    ("reconnect_storm", 20, 12),
    ("voice_evening", 16, 10),
    ("steady_fanout", 30, 8),
]


def run_scenario(scenario: str, users: int, duration: int, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(PYTHON),
            str(ROOT / "loadtests" / "run.py"),
            scenario,
            "--users",
            str(users),
            "--duration",
            str(duration),
            "--gateways",
            "2",
            "--apis",
            "2",
            "--drain",
            "30",
            "--out",
            str(out),
            "--workdir",
            str(out / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
    (results,) = out.glob(f"{scenario}-*.json")
    summary: dict[str, Any] = json.loads(results.read_text())
    assert summary["ok"], summary["problems"]
    (run,) = summary["runs"]
    print(done.stdout)
    return run


@pytest.fixture(scope="module")
def voicegen() -> None:
    """The native voice load generator, built once (cargo caches it; a fresh clone
    compiles it in a minute or two, which the scenario's own timeout should not carry)."""
    subprocess.run(
        [
            "cargo",
            "build",
            "--quiet",
            "--release",
            "--manifest-path",
            str(ROOT / "loadtests" / "voicegen" / "Cargo.toml"),
        ],
        env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target")},
        check=True,
        timeout=1200,
    )


@pytest.mark.parametrize(("scenario", "users", "duration"), SCENARIOS)
def test_scenario_runs_clean(
    scenario: str, users: int, duration: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if scenario == "voice_evening":
        request.getfixturevalue("voicegen")
    run = run_scenario(scenario, users, duration, tmp_path)
    assert run["failures"] == 0, run["failure_examples"]
    assert run["ready"] == run["users"]
    accounting = run["accounting"]
    assert accounting["ok"], accounting["examples"]
    assert accounting["expected"] > 0
    assert accounting["delivered"] == accounting["expected"]
    assert accounting["missing"] == accounting["duplicates"] == accounting["unknown"] == 0
    assert run["window"], "the window recorded no requests"
    assert all(r["failures"] == 0 for r in run["window"])
    posts = next(r for r in run["window"] if r["name"] == "POST /channels/:id/messages")
    assert posts["requests"] > 0
    assert sum(run["cpu_seconds"].values()) > 0
    assert {"api-0", "api-1", "gateway-0", "gateway-1", "postgres", "locust"} <= set(
        run["cpu_seconds"]
    )
    if scenario == "reconnect_storm":
        sessions = run["sessions"]
        assert sessions["resumes"] > 0 and sessions["drops"] > 0
        # The killed gateway's clients resumed elsewhere: more resumes than one storm has.
        assert sessions["identifies"] > run["plan"]["counts"]["Flaky"]
    if scenario == "voice_evening":
        voice = run["voice"]
        assert voice is not None and "error" not in voice, voice
        assert voice["received"] > 0
        assert voice["counters"]["decrypt_failures"] == 0
        assert voice["counters"]["misattributed"] == 0
        assert voice["loss_ratio"] <= 0.001


# --- the accounting rules, on hand-made records -----------------------------------------


def _post(id_: str, guild: str, started: float, ended: float) -> Post:
    return Post(id_, guild, started, ended)


def test_a_complete_session_needs_every_message_posted_after_its_ready() -> None:
    posts = [_post("1", "g", 0.5, 0.6), _post("2", "g", 1.5, 1.6), _post("3", "g", 2.0, 2.1)]
    good = Interval(0, "s", ["g"], ready_at=1.0, complete=True, received=["2", "3"])
    assert account(posts, [good]).ok
    # "1" was posted before READY: arriving is fine (it may have committed after the
    # snapshot), so is not arriving.
    early = Interval(0, "s", ["g"], ready_at=1.0, complete=True, received=["1", "2", "3"])
    result = account(posts, [early])
    assert result.ok and result.extra_ok == 1
    short = Interval(0, "s", ["g"], ready_at=1.0, complete=True, received=["2"])
    result = account(posts, [short])
    assert result.missing == 1 and not result.ok


def test_an_interrupted_session_needs_what_committed_before_its_last_message() -> None:
    posts = [
        _post("1", "g", 1.1, 1.2),
        _post("2", "g", 1.3, 1.4),  # ended before "3" started: must precede it
        _post("3", "g", 1.5, 1.6),
        _post("4", "g", 1.55, 1.7),  # overlaps "3": may have committed after it
    ]
    cut = Interval(0, "s", ["g"], ready_at=1.0, complete=False, received=["1", "2", "3"])
    assert account(posts, [cut]).ok
    gap = Interval(0, "s", ["g"], ready_at=1.0, complete=False, received=["1", "3"])
    assert account(posts, [gap]).missing == 1


def test_duplicates_and_strangers_are_faults() -> None:
    posts = [_post("1", "g", 1.1, 1.2), _post("2", "h", 1.1, 1.2)]
    twice = Interval(0, "s", ["g"], ready_at=1.0, complete=True, received=["1", "1"])
    assert account(posts, [twice]).duplicates == 1
    other_guild = Interval(0, "s", ["g"], ready_at=1.0, complete=True, received=["1", "2"])
    assert account(posts, [other_guild]).unknown == 1
    nobody_posted = Interval(0, "s", ["g"], ready_at=1.0, complete=True, received=["1", "9"])
    assert account(posts, [nobody_posted]).unknown == 1


def test_locust_is_not_imported_here() -> None:
    assert "locust" not in sys.modules and "gevent" not in sys.modules
