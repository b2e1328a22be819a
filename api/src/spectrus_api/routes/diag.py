"""``/diag``: the instance's diagnostics for its admins, as JSON under the API
(``/api/v10/diag``) and as a small HTML page (``/diag``) made from the same report.
What is in it, and who may read it, is ``spectrus_domain.diag``'s business."""

from __future__ import annotations

import html
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spectrus_api.deps import Ctx, CurrentActor
from spectrus_domain import diag

router = APIRouter(tags=["diagnostics"])
page_router = APIRouter(tags=["diagnostics"])


@router.get("/diag", summary="The instance's diagnostics (instance admins only)")
async def diagnostics(request: Request, ctx: Ctx, actor: CurrentActor) -> dict[str, Any]:
    return await diag.read(ctx, actor, request.app.state.diag)


@page_router.get("/diag", include_in_schema=False, response_class=HTMLResponse)
async def page(request: Request, ctx: Ctx, actor: CurrentActor) -> HTMLResponse:
    report = await diag.read(ctx, actor, request.app.state.diag)
    return HTMLResponse(render(report), headers={"Cache-Control": "no-store"})


def render(report: dict[str, Any]) -> str:
    """The report as one page: the totals, then a table per kind of process. Every
    value is escaped: error messages and host names come from elsewhere."""
    totals = report["totals"]
    summary = {
        "processes": ", ".join(f"{n} {c}" for c, n in sorted(totals["processes"].items())),
        "connections": totals["connections"],
        "sessions": totals["sessions"],
        "presence": ", ".join(f"{s} {n}" for s, n in sorted(totals["presence"].items())) or "-",
        "voice": "{nodes} nodes, {rooms} rooms, {sessions} sessions".format(**totals["voice"]),
        "queues": ", ".join(f"{q} {d}" for q, d in sorted(totals["queues"].items())) or "-",
    }
    rows = [
        [
            p["component"],
            p["node"],
            p["host"],
            p["pid"],
            _age(report["at"] - p["started_at"]),
            f"{p['cpu_seconds']:.1f} s",
            f"{p['rss_bytes'] / 2**20:.0f} MiB",
            (p.get("gateway") or {}).get("connections", ""),
            ", ".join(f"{q} {d}" for q, d in sorted((p.get("queues") or {}).items())),
        ]
        for p in report["processes"]
    ]
    media = [
        [
            n["address"],
            "yes" if n.get("reachable") else "no",
            "yes" if n.get("draining") or n.get("listed_draining") else "no",
            n.get("rooms", ""),
            n.get("sessions", ""),
        ]
        for p in report["processes"]
        for n in (p.get("gateway") or {}).get("media_nodes", [])
    ]
    errors = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"])),
            e["component"],
            e["level"],
            e["logger"],
            e["message"],
        ]
        for e in totals["recent_errors"]
    ]
    return _PAGE.format(
        summary=_table(["", ""], [[k, v] for k, v in summary.items()]),
        processes=_table(
            ["component", "node", "host", "pid", "up", "cpu", "memory", "connections", "queues"],
            rows,
        ),
        media=_table(["node", "reachable", "draining", "rooms", "sessions"], media),
        errors=_table(["at (UTC)", "component", "level", "logger", "message"], errors),
    )


def _age(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{cells}</tbody></table>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spectrus diagnostics</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2127; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ text-align: left; padding: .25rem .75rem; border-bottom: 1px solid #dde1e6; }}
th {{ font-weight: 600; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #16181c; color: #e4e6ea; }} th, td {{ border-color: #30343a; }}
}}
</style></head><body>
<h1>Spectrus diagnostics</h1>
<h2>Instance</h2>{summary}
<h2>Processes</h2>{processes}
<h2>Media nodes</h2>{media}
<h2>Recent warnings and errors</h2>{errors}
</body></html>
"""
