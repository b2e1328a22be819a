"""Snowflake ids: Discord's layout and epoch, monotonic under a misbehaving clock."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from spectrus_domain.ids import (
    DISCORD_EPOCH_MS,
    SnowflakeGenerator,
    snowflake_datetime,
    snowflake_floor,
    snowflake_time_ms,
)


def test_discord_epoch_is_2015() -> None:
    assert datetime.fromtimestamp(DISCORD_EPOCH_MS / 1000, tz=UTC) == datetime(
        2015, 1, 1, tzinfo=UTC
    )


def test_known_discord_id_decodes_to_its_documented_time() -> None:
    # Discord's documentation example: 175928847299117063 -> 2016-04-30 11:18:25.796 UTC.
    assert snowflake_time_ms(175928847299117063) == 1462015105796


def test_layout_matches_what_client_libraries_decode() -> None:
    now_ms = 1_800_000_000_123
    gen = SnowflakeGenerator(node=37, clock_ms=lambda: now_ms)
    first, second = gen.next(), gen.next()
    # discord.py: snowflake_time(id) = ((id >> 22) + DISCORD_EPOCH) / 1000
    assert ((first >> 22) + DISCORD_EPOCH_MS) == now_ms
    assert (first >> 12) & 0x3FF == 37
    assert first & 0xFFF == 0 and second & 0xFFF == 1
    assert snowflake_datetime(first).timestamp() * 1000 == now_ms


@given(
    st.lists(
        st.integers(min_value=DISCORD_EPOCH_MS, max_value=DISCORD_EPOCH_MS + 10**12),
        min_size=1,
        max_size=200,
    )
)
def test_ids_strictly_increase_even_when_the_clock_goes_back(times: list[int]) -> None:
    clock = iter(times)
    gen = SnowflakeGenerator(node=1, clock_ms=lambda: next(clock))
    ids = [gen.next() for _ in times]
    assert ids == sorted(set(ids))


def test_more_than_4096_ids_in_one_millisecond_borrow_the_next() -> None:
    gen = SnowflakeGenerator(node=0, clock_ms=lambda: DISCORD_EPOCH_MS + 1000)
    ids = [gen.next() for _ in range(5000)]
    assert ids == sorted(set(ids))
    assert snowflake_time_ms(ids[-1]) == DISCORD_EPOCH_MS + 1001


@given(st.integers(min_value=1, max_value=(1 << 60)))
def test_next_after_exceeds_any_floor(floor: int) -> None:
    gen = SnowflakeGenerator(node=5, clock_ms=lambda: DISCORD_EPOCH_MS + 1)
    assert gen.next_after(floor) > floor
    assert gen.next() > floor


def test_floor_is_the_smallest_id_of_its_millisecond() -> None:
    ms = DISCORD_EPOCH_MS + 123_456
    gen = SnowflakeGenerator(node=1023, clock_ms=lambda: ms)
    assert snowflake_floor(ms) <= gen.next() < snowflake_floor(ms + 1)


def test_node_must_fit_ten_bits() -> None:
    import pytest

    with pytest.raises(ValueError, match="node"):
        SnowflakeGenerator(node=1024)
