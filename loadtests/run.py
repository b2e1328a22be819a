"""Run a load-test scenario headless against a local multi-process Spectrus deployment.

    uv run python loadtests/run.py busy_guild --users 100 --duration 30 --gateways 2 --apis 2
    uv run python loadtests/run.py busy_guild --users 100 --compare-gateways 1,3

Starts embedded PostgreSQL, a three-node Redis cluster, ``--apis`` api processes,
``--gateways`` gateway processes and one media process; then the locust process
(``spectrus_load.driver``, its own process because locust monkey-patches it with gevent),
which seeds the world through the REST API, ramps the scenario's users up, runs the
measured window, stops the users and drains. Meanwhile this process samples every
process's CPU and memory, reads the gateways' dispatch counters at the window's edges and,
for the reconnect storm, SIGKILLs a gateway mid-window. It prints a markdown results table,
writes it (and the raw JSON) to ``--out``, and exits 1 if any request failed, any user did
not log in, or any message was not delivered exactly once to every session that had to
see it. ``--compare-gateways`` runs the same workload on each gateway count in turn and
adds the CPU cost per delivered event side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spectrus_load import report
from spectrus_load.deploy import ROOT, Deployment, die_with_parent, environment_ok
from spectrus_load.sampler import MACHINE, Sampler

LOADTESTS = Path(__file__).resolve().parent
SCENARIOS = LOADTESTS / "scenarios"
VOICEGEN = ROOT / "target" / "release" / "voicegen"
PYTHON = ROOT / ".venv" / "bin" / "python"


def scenario_path(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".py" and path.exists():
        return path.resolve()
    candidate = SCENARIOS / f"{name}.py"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.py")))
        raise SystemExit(f"no scenario {name!r} (known: {known})")
    return candidate


def ensure_voicegen() -> Path:
    """Build voicegen (cargo caches it, so an up-to-date binary costs a second)."""
    subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - cargo from PATH, as ./run-tests uses it
            "cargo",
            "build",
            "--quiet",
            "--release",
            "--manifest-path",
            str(LOADTESTS / "voicegen" / "Cargo.toml"),
        ],
        env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target")},
        check=True,
    )
    return VOICEGEN


def revision() -> str:
    """The commit measured (and whether the work tree differed from it)."""

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", *args],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # read only: no index refresh
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (
        " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def scrape(port: int) -> str | None:
    """A process's /metrics text, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())
    except OSError:
        return None


def gateway_dispatches(deployment: Deployment, last: dict[str, float]) -> dict[str, float]:
    """Each gateway's spectrus_gateway_dispatches_total (a dead one keeps its last value)."""
    out = dict(last)
    for proc in deployment.gateway:
        text = scrape(proc.port) if proc.alive() else None
        if text is None:
            continue
        for line in text.splitlines():
            if line.startswith("spectrus_gateway_dispatches_total "):
                out[proc.name] = float(line.split()[1])
    return out


def api_durations(deployment: Deployment) -> dict[str, list[float]]:
    """Per "METHOD route": [seconds, requests] summed over the api processes, from their
    spectrus_http_request_duration_seconds histograms (the server's side of latency)."""
    out: dict[str, list[float]] = {}
    for proc in deployment.api:
        text = scrape(proc.port)
        if text is None:
            continue
        for line in text.splitlines():
            for suffix, slot in (("_sum{", 0), ("_count{", 1)):
                prefix = "spectrus_http_request_duration_seconds" + suffix
                if line.startswith(prefix):
                    labels, value = line[len(prefix) :].rsplit("} ", 1)
                    fields = dict(part.split("=", 1) for part in labels.split(",") if "=" in part)
                    key = f"{fields['method'].strip(chr(34))} {fields['route'].strip(chr(34))}"
                    out.setdefault(key, [0.0, 0.0])[slot] += float(value)
    return out


def run_once(
    scenario: Path,
    users: int,
    duration: float,
    gateways: int,
    apis: int,
    drain: float,
    workdir: Path,
    voicegen: Path | None,
) -> dict[str, Any]:
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    deployment = Deployment(workdir / "deployment", apis=apis, gateways=gateways)
    sampler = Sampler()
    driver: subprocess.Popen[str] | None = None
    killer: threading.Timer | None = None
    try:
        deployment.start()
        for name, pid in deployment.pids().items():
            sampler.watch(name, pid, group=name == "postgres")
        results = workdir / "driver-results.json"
        config = workdir / "driver-config.json"
        config.write_text(
            json.dumps(
                {
                    "api_urls": deployment.api_urls,
                    "gateway_urls": deployment.gateway_urls,
                    "media_ca": str(deployment.media_ca),
                    "voicegen": str(voicegen) if voicegen else "",
                    "workdir": str(workdir),
                    "drain_timeout": drain,
                    "out": str(results),
                }
            )
        )
        env = {**os.environ, "PYTHONPATH": str(LOADTESTS), "PYTHONUNBUFFERED": "1"}
        with open(workdir / "locust.log", "w") as log:
            driver = subprocess.Popen(  # noqa: S603 - our own argument list
                [
                    str(PYTHON),
                    "-m",
                    "spectrus_load.driver",
                    "--scenario",
                    str(scenario),
                    "--users",
                    str(users),
                    "--duration",
                    str(duration),
                    "--config",
                    str(config),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                cwd=ROOT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - the sampler thread starts later
            )
        sampler.watch("locust", driver.pid, group=True)  # with voicegen, its child
        sampler.start()
        assert driver.stdout is not None
        plan: dict[str, Any] = {}
        cpu0: dict[str, float] = {}
        cpu1: dict[str, float] = {}
        metrics0: dict[str, float] = {}
        metrics1: dict[str, float] = {}
        api0: dict[str, list[float]] = {}
        api1: dict[str, list[float]] = {}
        for line in driver.stdout:
            if not line.startswith("@@ "):
                continue
            event = json.loads(line[3:])
            print(
                f"  [{event['event']}] {json.dumps({k: v for k, v in event.items() if k not in ('event', 't', 'plan')})}",
                file=sys.stderr,
            )
            if event["event"] == "plan":
                plan = event["plan"]
            elif event["event"] == "steady":
                cpu0 = sampler.snapshot()
                metrics0 = gateway_dispatches(deployment, {})
                api0 = api_durations(deployment)
                kill_at = plan.get("kill_gateway_at")
                if kill_at is not None and gateways >= 2:
                    killer = threading.Timer(kill_at * duration, deployment.gateway[0].kill)
                    killer.start()
            elif event["event"] == "window_end":
                cpu1 = sampler.snapshot()
                metrics1 = gateway_dispatches(deployment, metrics0)
                api1 = api_durations(deployment)
        code = driver.wait()
        if code != 0 or not results.exists():
            tail = (workdir / "locust.log").read_text(errors="replace")[-4000:]
            raise RuntimeError(f"the locust process exited with {code}:\n{tail}")
        run: dict[str, Any] = json.loads(results.read_text())
        run["started_at"] = started_at
        run["revision"] = revision()
        run["deployment"] = {"apis": apis, "gateways": gateways, "media": 1, "redis_nodes": 3}
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu1.items()}
        run["machine_busy_seconds"] = cpu.pop(MACHINE)
        run["cores"] = os.cpu_count() or 1
        run["cpu_seconds"] = cpu
        run["peak_mib"] = sampler.peaks()
        run["api_server_side"] = {
            key: {
                "requests": count - api0.get(key, [0.0, 0.0])[1],
                "mean_ms": (total - api0.get(key, [0.0, 0.0])[0])
                * 1000
                / max(count - api0.get(key, [0.0, 0.0])[1], 1),
            }
            for key, (total, count) in api1.items()
            if count - api0.get(key, [0.0, 0.0])[1] > 0
        }
        run["gateway_dispatches_metric"] = sum(metrics1.values()) - sum(metrics0.values())
        run["cpu_per_event"] = report.cpu_per_event(run)
        return run
    finally:
        if killer is not None:
            killer.cancel()
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.wait()
        sampler.stop()
        deployment.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", help="name in loadtests/scenarios/ or a path")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0, help="measured window, s")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--drain", type=float, default=30.0, help="most seconds to drain")
    parser.add_argument("--out", type=Path, help="directory for the .md and .json results")
    parser.add_argument(
        "--compare-gateways",
        help="comma-separated gateway counts (e.g. 1,3): the same workload on each in turn",
    )
    parser.add_argument(
        "--users-per-gateway",
        type=int,
        help="scale users with the gateway count (users = this x gateways): with "
        "--compare-gateways, every gateway carries the same load in every run",
    )
    parser.add_argument("--workdir", type=Path, help="keep the deployment's files here")
    args = parser.parse_args()

    missing = environment_ok()
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}")
    scenario = scenario_path(args.scenario)
    voicegen = ensure_voicegen() if "VoiceSpeaker" in scenario.read_text() else None
    counts = (
        [int(g) for g in args.compare_gateways.split(",")]
        if args.compare_gateways
        else [args.gateways]
    )
    base = args.workdir or Path(tempfile.mkdtemp(prefix="spectrus-load-"))
    runs = []
    try:
        for i, gateways in enumerate(counts):
            workdir = base / f"run{i}-{gateways}g"
            workdir.mkdir(parents=True, exist_ok=True)
            runs.append(
                run_once(
                    scenario,
                    args.users_per_gateway * gateways if args.users_per_gateway else args.users,
                    args.duration,
                    gateways,
                    args.apis,
                    args.drain,
                    workdir,
                    voicegen,
                )
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)

    text = "".join(report.markdown(run) + "\n" for run in runs)
    if len(runs) > 1:
        text += "CPU per delivered event by gateway processes:\n\n" + report.comparison(runs)
    print(text)
    problems = [p for run in runs for p in report.verdict(run)]
    summary = {"ok": not problems, "problems": problems, "runs": runs}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        scale = f"{args.users_per_gateway}upg" if args.users_per_gateway else f"{args.users}u"
        stem = f"{scenario.stem}-{scale}-" + "-".join(f"{g}g" for g in counts) + f"-{stamp}"
        (args.out / f"{stem}.md").write_text(text)
        (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    print("@@ " + json.dumps({"ok": summary["ok"], "problems": problems}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
