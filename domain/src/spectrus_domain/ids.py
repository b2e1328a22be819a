"""Snowflake ids in Discord's layout, so client libraries compute correct creation times.

A snowflake is ``(ms since 2015-01-01) << 22 | node (10 bits) << 12 | increment (12 bits)``.
The generator is monotonic within a process even if the wall clock steps backwards, and
``next_after`` lets a caller that holds a lock guarantee ids increase along a sequence
(messages in a channel) even across processes whose clocks differ slightly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_SNOWFLAKE = (1 << 63) - 1
NODE_BITS = 10
INCREMENT_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
_INCREMENT_MASK = (1 << INCREMENT_BITS) - 1
_TIMESTAMP_SHIFT = NODE_BITS + INCREMENT_BITS


def snowflake_time_ms(snowflake: int) -> int:
    """Unix time in milliseconds encoded in ``snowflake``."""
    return (snowflake >> _TIMESTAMP_SHIFT) + DISCORD_EPOCH_MS


def snowflake_datetime(snowflake: int) -> datetime:
    return datetime.fromtimestamp(snowflake_time_ms(snowflake) / 1000, tz=UTC)


def snowflake_floor(unix_ms: int) -> int:
    """The smallest snowflake created at ``unix_ms`` (for ``before``/``after`` by time)."""
    return max(unix_ms - DISCORD_EPOCH_MS, 0) << _TIMESTAMP_SHIFT


class SnowflakeGenerator:
    """Thread-safe monotonic snowflake source for one node (0..1023)."""

    def __init__(
        self,
        node: int,
        clock_ms: Callable[[], int] | None = None,
        *,
        not_before_ms: int = 0,
        guard: Callable[[], None] | None = None,
    ) -> None:
        """``not_before_ms`` (Unix ms): issue no id from earlier, because another holder of
        this node number may have used those milliseconds. ``guard`` runs before every id
        and raises when this process may no longer use the node number (its lease ran out).
        """
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be in 0..{MAX_NODE}, got {node}")
        self._node = node
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._guard = guard
        self._lock = threading.Lock()
        self._last_ms = max(not_before_ms - DISCORD_EPOCH_MS, 0)
        self._increment = 0

    @property
    def node(self) -> int:
        return self._node

    def next(self) -> int:
        return self.next_after(0)

    def next_after(self, floor: int) -> int:
        """A fresh id strictly greater than ``floor`` and than every id given out before."""
        floor_ms = snowflake_time_ms(floor) - DISCORD_EPOCH_MS if floor else 0
        if self._guard is not None:
            self._guard()
        with self._lock:
            now = self._clock_ms() - DISCORD_EPOCH_MS
            # Never go back in time, and never issue an id in the same millisecond as the
            # floor: another node may have used any increment there.
            ms = max(now, self._last_ms, floor_ms + 1 if floor else 0)
            if ms == self._last_ms:
                self._increment = (self._increment + 1) & _INCREMENT_MASK
                if self._increment == 0:
                    ms += 1  # 4096 ids in one millisecond: borrow the next one
            else:
                self._increment = 0
            self._last_ms = ms
            return (ms << _TIMESTAMP_SHIFT) | (self._node << INCREMENT_BITS) | self._increment
