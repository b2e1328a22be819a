"""The shared metrics plumbing: with ``PROMETHEUS_MULTIPROC_DIR`` set, ``/metrics``
aggregates what every worker wrote to that directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = """
from spectrus_domain.bus import PUBLISHED
PUBLISHED.inc(3)
"""
SCRAPE = """
import spectrus_domain.storage.db  # the pool collector answers too
from spectrus_domain.metrics import render
body, content_type = render()
print(content_type)
print(body.decode())
"""


def _run(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout


def test_multiprocess_mode_adds_up_every_workers_counters(tmp_path: Path) -> None:
    _run(WORKER, tmp_path)
    _run(WORKER, tmp_path)
    out = _run(SCRAPE, tmp_path)
    assert out.startswith("text/plain; version=0.0.4")
    assert "spectrus_bus_published_total 6.0" in out.splitlines()
    assert 'spectrus_db_pool_connections{state="idle"} 0.0' in out.splitlines()
