"""Delivery accounting: did every message reach every session that had to see it, once?

Inputs are what the locust process recorded: every message a REST user created (the id
the POST returned, its guild, and when the POST started and ended, on the monotonic clock
every user shares) and every gateway session *interval* (from READY until the session
ended; a RESUME continues an interval because the gateway replays what was missed, a new
IDENTIFY starts a new one).

Rules, for an interval ``s`` of a member of guild ``G``:

- **complete** intervals (alive at the end of the drain): every message of ``G`` whose POST
  started after ``s`` got READY must have arrived. Its commit followed the READY snapshot,
  and the gateway delivers everything after the snapshot.
- **interrupted** intervals (the client dropped and re-identified, or a resume was refused):
  what was in flight at the drop may be lost, and that is not a fault. But the gateway
  delivers a guild's events in commit order, gap-free, so if ``s`` received message ``m``
  of ``G``, every message of ``G`` whose POST started after READY and *ended before m's POST
  started* (so it committed before ``m``) must have arrived too.
- in any interval, a message may arrive at most once, and only messages our users created
  in a guild the member belongs to may arrive at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Post:
    id: str
    guild: str
    started: float
    ended: float


@dataclass
class Interval:
    account: int
    session_id: str
    guilds: list[str]
    ready_at: float
    complete: bool = False
    received: list[str] = field(default_factory=list)  # message ids, in arrival order
    seqs: list[int] = field(default_factory=list)  # the gateway's ``s`` of each arrival


@dataclass
class Result:
    posts: int = 0
    intervals: int = 0
    complete_intervals: int = 0
    expected: int = 0
    delivered: int = 0  # expected deliveries that arrived
    extra_ok: int = 0  # arrivals not required (in flight at a READY or a drop) but valid
    missing: int = 0
    duplicates: int = 0
    unknown: int = 0  # a message no REST user created, or from a guild not the member's
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0 and self.unknown == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


MAX_EXAMPLES = 20


def account(posts: list[Post], intervals: list[Interval]) -> Result:
    by_id = {p.id: p for p in posts}
    by_guild: dict[str, list[Post]] = defaultdict(list)
    for p in posts:
        by_guild[p.guild].append(p)
    result = Result(posts=len(posts), intervals=len(intervals))

    def note(text: str) -> None:
        if len(result.examples) < MAX_EXAMPLES:
            result.examples.append(text)

    for s in intervals:
        result.complete_intervals += s.complete
        got = Counter(s.received)
        for message, n in got.items():
            if n > 1:
                result.duplicates += n - 1
                seqs = [q for m, q in zip(s.received, s.seqs, strict=False) if m == message]
                note(
                    f"session {s.session_id} (account {s.account}) got {message} {n} times"
                    + (f" (s={seqs})" if seqs else "")
                )
            post = by_id.get(message)
            if post is None or post.guild not in s.guilds:
                result.unknown += 1
                note(f"session {s.session_id} got {message}, which it should not see")
        # For an interrupted interval: per guild, the POST start of the last message it got.
        cutoff: dict[str, float] = {}
        if not s.complete:
            for message in s.received:
                post = by_id.get(message)
                if post is not None:
                    cutoff[post.guild] = max(cutoff.get(post.guild, 0.0), post.started)
        required: set[str] = set()
        for guild in s.guilds:
            for p in by_guild.get(guild, ()):
                if p.started < s.ready_at:
                    continue
                if s.complete or p.ended < cutoff.get(guild, float("-inf")):
                    required.add(p.id)
        result.expected += len(required)
        arrived = required & got.keys()
        result.delivered += len(arrived)
        result.extra_ok += len(
            [m for m in got if m not in required and m in by_id and by_id[m].guild in s.guilds]
        )
        lost = required - arrived
        result.missing += len(lost)
        for message in sorted(lost)[:3]:
            note(
                f"session {s.session_id} (account {s.account}, "
                f"{'complete' if s.complete else 'interrupted'}) never got {message}"
            )
    return result
