"""Sessions and presence in Redis, so any gateway process can resume any session and all
processes agree on who is online.

Each session is a hash and a list sharing the hash tag ``{<session id>}`` (one cluster
slot), changed only by Lua scripts so every change is atomic: appends check the owner,
trim the log and move cursors together. Live sessions are kept from expiring by their
gateway; released ones expire after the resume window.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from spectrus_domain.bus.redis import RedisTopology
from spectrus_gateway.presence import CONNECTION_TTL, Presence, combine
from spectrus_gateway.sessions import (
    LOG_LIMIT,
    MISSING,
    RESUME_WINDOW,
    Append,
    SessionRecord,
)

LIVE_TTL_MS = 600_000
"""A live session's keys outlive a dead gateway by this much; its touches renew it."""
RESUME_TTL_MS = int(RESUME_WINDOW * 1000)

_CREATE = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 2, #ARGV))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

_APPEND = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner == false then return -1 end
if owner ~= ARGV[1] then return -2 end
local n = tonumber(ARGV[4])
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
if n > 0 then
  local len = redis.call('RPUSH', KEYS[2], unpack(ARGV, 5, 4 + n))
  seq = seq + n
  redis.call('HSET', KEYS[1], 'seq', seq)
  local limit = tonumber(ARGV[2])
  if len > limit then
    redis.call('LTRIM', KEYS[2], len - limit, -1)
    redis.call('HINCRBY', KEYS[1], 'log_start', len - limit)
  end
end
local i = 5 + n
local moved = tonumber(ARGV[i]); i = i + 1
if moved > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, i, i + 2 * moved - 1)) end
i = i + 2 * moved
local dropped = tonumber(ARGV[i]); i = i + 1
if dropped > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, i, i + dropped - 1)) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return seq
"""

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""

_TOUCH = """
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""


def _keys(session_id: str) -> list[str]:
    return [f"spectrus:s:{{{session_id}}}", f"spectrus:s:{{{session_id}}}:log"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionStore:
    def __init__(self, topology: RedisTopology) -> None:
        self.topology = topology

    async def create(self, record: SessionRecord) -> None:
        fields: list[Any] = [
            "user_id",
            record.user_id,
            "bot",
            int(record.bot),
            "intents",
            record.intents,
            "large_threshold",
            record.large_threshold,
            "owner",
            record.owner,
            "seq",
            record.seq,
            "log_start",
            record.log_start,
            "properties",
            orjson.dumps(record.properties),
        ]
        for stream, seq in record.cursors.items():
            fields += [f"c:{stream}", seq]
        await self.topology.run_script(
            _CREATE, [(_keys(record.session_id), [LIVE_TTL_MS, *fields])]
        )

    async def append(self, batch: list[Append]) -> list[int | None]:
        calls = []
        for item in batch:
            args: list[Any] = [item.owner, LOG_LIMIT, LIVE_TTL_MS, len(item.entries), *item.entries]
            args.append(len(item.cursors))
            for stream, seq in item.cursors.items():
                args += [f"c:{stream}", seq]
            args.append(len(item.dropped))
            args += [f"c:{stream}" for stream in item.dropped]
            calls.append((_keys(item.session_id), args))
        results: list[int | None] = []
        for r in await self.topology.run_script(_APPEND, calls):
            if isinstance(r, Exception):
                raise r
            results.append(int(r) if int(r) >= 0 else (MISSING if int(r) == -1 else None))
        return results

    async def claim(self, session_id: str, owner: str) -> tuple[SessionRecord, list[str]] | None:
        [result] = await self.topology.run_script(
            _CLAIM, [(_keys(session_id), [owner, LIVE_TTL_MS])]
        )
        if isinstance(result, Exception):
            raise result
        if not result:
            return None
        flat, log = result
        fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        record = SessionRecord(
            session_id=session_id,
            user_id=int(fields["user_id"]),
            bot=_text(fields["bot"]) == "1",
            intents=int(fields["intents"]),
            large_threshold=int(fields["large_threshold"]),
            owner=owner,
            seq=int(fields["seq"]),
            log_start=int(fields["log_start"]),
            cursors={int(k[2:]): int(v) for k, v in fields.items() if k.startswith("c:")},
            properties=orjson.loads(fields.get("properties", b"{}")),
        )
        return record, [_text(e) for e in log]

    async def release(self, session_id: str, owner: str) -> None:
        await self.topology.run_script(_RELEASE, [(_keys(session_id), [owner, RESUME_TTL_MS])])

    async def touch(self, session_ids: list[str]) -> None:
        await self.topology.run_script(_TOUCH, [(_keys(s), [LIVE_TTL_MS]) for s in session_ids])


# --- presence ---------------------------------------------------------------------------

_EXPIRY_INDEX = "spectrus:presence:expiry"

# Drop one connection's entry if it is (still) expired; how many the user has left, or -1.
_EXPIRE_ENTRY = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw == false then return -1 end
if tonumber(cjson.decode(raw)['expires']) > tonumber(ARGV[2]) then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('HLEN', KEYS[1])
"""
# Remove an index member only if its score is (still) past.
_UNINDEX = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
"""


def _presence_key(user_id: int) -> str:
    return f"spectrus:p:{{{user_id}}}"


def _encode(presence: Presence, expires: float) -> bytes:
    return orjson.dumps(
        {
            "status": presence.status,
            "activities": presence.activities,
            "client_status": presence.client_status,
            "updated": presence.updated,
            "expires": expires,
        }
    )


def _decode(raw: bytes) -> tuple[Presence, float]:
    d = orjson.loads(raw)
    return Presence(d["status"], d["activities"], d["client_status"], d["updated"]), float(
        d["expires"]
    )


class RedisPresenceStore:
    def __init__(self, topology: RedisTopology) -> None:
        self.topology = topology

    async def _write(self, entries: list[tuple[int, str, Presence]]) -> None:
        expires = time.time() + CONNECTION_TTL
        for user_id, conn_id, presence in entries:
            key = _presence_key(user_id)
            await self.topology.call(key, "HSET", key, conn_id, _encode(presence, expires))
            await self.topology.call(
                _EXPIRY_INDEX, "ZADD", _EXPIRY_INDEX, expires, f"{user_id}:{conn_id}"
            )

    async def set(self, user_id: int, conn_id: str, presence: Presence) -> Presence:
        await self._write([(user_id, conn_id, presence)])
        return (await self.get([user_id])).get(user_id, presence)

    async def remove(self, user_id: int, conn_id: str) -> int:
        key = _presence_key(user_id)
        await self.topology.call(key, "HDEL", key, conn_id)
        await self.topology.call(_EXPIRY_INDEX, "ZREM", _EXPIRY_INDEX, f"{user_id}:{conn_id}")
        return int(await self.topology.call(key, "HLEN", key))

    async def get(self, user_ids: list[int]) -> dict[int, Presence]:
        now = time.time()
        out: dict[int, Presence] = {}
        for user_id in user_ids:
            key = _presence_key(user_id)
            entries = await self.topology.call(key, "HGETALL", key)
            live = [p for p, expires in map(_decode, (entries or {}).values()) if expires > now]
            if live:
                out[user_id] = combine(live)
        return out

    async def refresh(self, entries: list[tuple[int, str, Presence]]) -> None:
        """Renew this process's connections (and write back any a flush removed)."""
        await self._write(entries)

    async def sweep(self) -> list[int]:
        now = time.time()
        due = await self.topology.call(
            _EXPIRY_INDEX, "ZRANGEBYSCORE", _EXPIRY_INDEX, "-inf", now, "LIMIT", 0, 500
        )
        emptied = []
        for member in due or []:
            user, conn_id = _text(member).split(":", 1)
            [left] = await self.topology.run_script(
                _EXPIRE_ENTRY, [([_presence_key(int(user))], [conn_id, now])]
            )
            await self.topology.run_script(_UNINDEX, [([_EXPIRY_INDEX], [_text(member), now])])
            if left == 0:
                emptied.append(int(user))
        return emptied
