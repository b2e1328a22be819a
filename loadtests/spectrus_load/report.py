"""The results of one run as a markdown table (and the verdict the runner exits with)."""

from __future__ import annotations

from typing import Any

SERVER_PREFIXES = ("api-", "gateway-", "media-", "redis-", "postgres")


def _f(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def verdict(run: dict[str, Any]) -> list[str]:
    """Why the run failed (empty: it passed)."""
    problems = []
    if run["failures"]:
        problems.append(f"{run['failures']} failed requests: {run['failure_examples'][:5]}")
    if run["ready"] < run["users"]:
        problems.append(f"only {run['ready']} of {run['users']} users logged in")
    accounting = run["accounting"]
    if not accounting["ok"]:
        problems.append(
            f"deliveries: {accounting['missing']} missing, {accounting['duplicates']} "
            f"duplicated, {accounting['unknown']} unexpected; e.g. {accounting['examples'][:5]}"
        )
    if accounting["expected"] == 0 and run["plan"].get("expects_deliveries", True):
        problems.append("no delivery was required: the run measured nothing")
    voice = run.get("voice")
    if run["plan"]["voice_rooms"] and (voice is None or "error" in voice):
        problems.append(f"voice: {voice and voice.get('error')}")
    return problems


def cpu_per_event(run: dict[str, Any]) -> dict[str, float]:
    cpu = run["cpu_seconds"]
    # No dispatch (an idle scenario): the cost per event is undefined, shown as nan.
    dispatches = run["dispatches_in_window"] or float("nan")
    gateway = sum(v for k, v in cpu.items() if k.startswith("gateway-"))
    servers = sum(v for k, v in cpu.items() if k.startswith(SERVER_PREFIXES))
    return {
        "gateway_cpu_s": gateway,
        "deployment_cpu_s": servers,
        "gateway_us_per_dispatch": gateway * 1e6 / dispatches,
        "deployment_us_per_dispatch": servers * 1e6 / dispatches,
    }


def markdown(run: dict[str, Any]) -> str:
    window = run["window_seconds"]
    d = run["deployment"]
    lines = [
        f"### {run['scenario']}: {run['users']} locust users, {d['apis']} api + {d['gateways']} "
        f"gateway processes, {window:.0f} s window",
        "",
        f"Ramp-up (seeding excluded) {run['ramp_seconds']:.1f} s; seeding {run['seed_seconds']:.1f} s "
        f"for {run['plan']['shape']['guilds']} guild(s) of {run['plan']['shape']['members_per_guild']} "
        f"members. Started {run['started_at']} at {run.get('revision', '?')}.",
        "",
        "| type | name | requests | per s | failures | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in run["window"]:
        lines.append(
            f"| {r['type']} | {r['name']} | {_f(r['requests'])} | {_f(r['per_s'], 1)} | "
            f"{r['failures']} | {_f(r['p50'])} | {_f(r['p95'])} | {_f(r['p99'])} | {_f(r['max'])} |"
        )
    server = run.get("api_server_side") or {}
    if server:
        lines += [
            "",
            "The api processes' own view of the same window (arrival to end of answer, from "
            "their request-duration histograms):",
            "",
            "| route | requests | mean ms |",
            "| --- | ---: | ---: |",
        ]
        lines += [
            f"| {route} | {_f(v['requests'])} | {v['mean_ms']:.1f} |"
            for route, v in sorted(server.items())
        ]
    logins = [r for r in run["ramp"] if r["type"] in ("WS", "VOICE")]
    if logins:
        lines += [
            "",
            "Logins during the ramp-up:",
            "",
            "| type | name | requests | failures | p50 ms | p95 ms | p99 ms | max ms |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['type']} | {r['name']} | {_f(r['requests'])} | {r['failures']} | "
            f"{_f(r['p50'])} | {_f(r['p95'])} | {_f(r['p99'])} | {_f(r['max'])} |"
            for r in logins
            if r["name"] != "MESSAGE_CREATE delivered"
        ]
    a = run["accounting"]
    s = run["sessions"]
    lines += [
        "",
        f"Failed requests over the whole run (ramp, window, drain): **{run['failures']}**.",
        f"Delivery accounting (MESSAGE_CREATE, {a['posts']} messages posted, "
        f"{a['intervals']} gateway session intervals): required **{_f(a['expected'])}**, "
        f"delivered **{_f(a['delivered'])}**, missing **{a['missing']}**, duplicated "
        f"**{a['duplicates']}**, unexpected **{a['unknown']}** (plus {_f(a['extra_ok'])} "
        f"deliveries of messages in flight at a READY or a drop). Gateway sessions: "
        f"{s['identifies']} IDENTIFY, {s['resumes']} RESUME, {s['drops']} drops, "
        f"{s.get('login_retries', 0)} logins retried after their connection was lost.",
    ]
    voice = run.get("voice")
    if voice and "error" not in voice:
        lat = voice["latency_us"]
        w = voice["workload"]
        lines += [
            "",
            f"Voice (voicegen, {w['sessions']} sessions in {w['rooms']} rooms, {w['speakers']} "
            f"speakers at {w['rate_pps']} packets/s): sent {_f(voice['sent'])}, expected "
            f"{_f(voice['expected'])} deliveries, received {_f(voice['received'])} "
            f"(loss {voice['loss_ratio']:.4%}), {_f(voice['forwarded_pps'])} forwarded/s, "
            f"latency p50 {lat['p50']} us, p90 {lat['p90']} us, p99 {lat['p99']} us; "
            f"decrypt failures {voice['counters']['decrypt_failures']}, misattributed "
            f"{voice['counters']['misattributed']}.",
        ]
    elif voice:
        lines += ["", f"Voice: **{voice['error']}**"]
    lines += [
        "",
        "| process | CPU s in window | % of one core | peak memory MiB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, cpu in sorted(run["cpu_seconds"].items()):
        mem = run["peak_mib"].get(name, 0.0)
        note = " (PSS sum)" if name in ("postgres", "locust") else ""
        lines.append(f"| {name} | {cpu:.2f} | {cpu / window * 100:.0f}% | {mem:.0f}{note} |")
    ours = sum(run["cpu_seconds"].values())
    busy = run["machine_busy_seconds"]
    lines += [
        "",
        f"Machine: {busy:.1f} CPU s busy of {run['cores'] * window:.0f} "
        f"({busy / window / run['cores']:.0%} of {run['cores']} cores); these processes "
        f"{ours:.1f} s, everything else on the machine {max(busy - ours, 0):.1f} s.",
    ]
    per = cpu_per_event(run)
    lines += [
        "",
        f"Dispatches delivered to clients in the window: {_f(run['dispatches_in_window'])} "
        f"({_f(run['dispatches_in_window'] / window)}/s; gateways counted "
        f"{_f(run['gateway_dispatches_metric'])}). CPU per delivered event: gateways "
        f"**{per['gateway_us_per_dispatch']:.1f} us**, whole deployment "
        f"**{per['deployment_us_per_dispatch']:.1f} us**.",
    ]
    problems = verdict(run)
    lines += [
        "",
        "Verdict: " + ("**pass**" if not problems else "**FAIL**: " + "; ".join(problems)),
    ]
    return "\n".join(lines) + "\n"


def comparison(runs: list[dict[str, Any]]) -> str:
    """CPU per delivered event as the number of gateway processes changes: every run, then
    the mean per gateway count against the first count's mean."""
    lines = [
        "| run | gateways | dispatches/s | gateway CPU s | gateway us/dispatch | deployment us/dispatch | other load on the machine, CPU s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_count: dict[int, list[dict[str, float]]] = {}
    for i, run in enumerate(runs, 1):
        per = cpu_per_event(run)
        gateways = run["deployment"]["gateways"]
        by_count.setdefault(gateways, []).append(per)
        other = max(run["machine_busy_seconds"] - sum(run["cpu_seconds"].values()), 0.0)
        lines.append(
            f"| {i} | {gateways} | {_f(run['dispatches_in_window'] / run['window_seconds'])} | "
            f"{per['gateway_cpu_s']:.2f} | {per['gateway_us_per_dispatch']:.1f} | "
            f"{per['deployment_us_per_dispatch']:.1f} | {other:.1f} |"
        )
    lines += [
        "",
        "| gateways | runs | gateway us/dispatch (mean) | vs first | deployment us/dispatch (mean) | vs first |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base: tuple[float, float] | None = None
    for gateways, pers in by_count.items():
        gw = sum(p["gateway_us_per_dispatch"] for p in pers) / len(pers)
        dep = sum(p["deployment_us_per_dispatch"] for p in pers) / len(pers)
        if base is None:
            base = (gw, dep)
        lines.append(
            f"| {gateways} | {len(pers)} | {gw:.1f} | {gw / base[0] - 1:+.1%} | {dep:.1f} | "
            f"{dep / base[1] - 1:+.1%} |"
        )
    return "\n".join(lines) + "\n"
