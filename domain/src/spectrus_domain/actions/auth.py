"""Accounts and credentials: register, login, refresh, logout, sessions, token lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from spectrus_domain import credentials, events, shapes
from spectrus_domain.access import Actor
from spectrus_domain.context import Context
from spectrus_domain.diag import STAFF
from spectrus_domain.errors import DomainError, Error, field_error, merge_field_errors
from spectrus_domain.storage.db import Connection, one, update

# Recording every request's use of a token would turn reads into writes; once a minute
# is precise enough for "last used".
_TOUCH_INTERVAL = timedelta(minutes=1)
_ACCOUNTS_LOCK = 0x5EC7_0003  # pg_advisory_xact_lock key: account creation under a cap
_ADMIN_LOCK = 0x5EC7_0004  # pg_advisory_xact_lock key: who is the instance's first admin


async def check_account_room(ctx: Context, conn: Connection) -> None:
    """Refuse a new account (person or bot) once the instance holds ``max_accounts``.

    Call inside the creating transaction: the lock queues concurrent creators until this
    one commits, so two cannot both take the last place."""
    limit = ctx.settings.max_accounts
    if limit <= 0:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _ACCOUNTS_LOCK)
    if await conn.fetchval("SELECT count(*) FROM users WHERE NOT system") >= limit:
        raise DomainError(Error.MAX_ACCOUNTS)


async def _first_person_is_admin(conn: Connection, user_id: int) -> None:
    """The first account of an instance administers it (``/diag``); the lock makes two
    first registrations at once take turns, so only one of them is first."""
    admin_exists = "SELECT EXISTS (SELECT 1 FROM users WHERE flags & $1 = $1 AND NOT bot)"
    if await conn.fetchval(admin_exists, STAFF):
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _ADMIN_LOCK)
    await conn.execute(
        """UPDATE users SET flags = flags | $2 WHERE id = $1
           AND NOT EXISTS (SELECT 1 FROM users WHERE flags & $2 = $2 AND NOT bot)""",
        user_id,
        STAFF,
    )


@dataclass(frozen=True)
class TokenPair:
    user_id: int
    token: str
    refresh_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "refresh_token": self.refresh_token,
            "user_id": str(self.user_id),
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True)
class Authenticated:
    actor: Actor
    token_id: int
    kind: str


def _invalid_login() -> DomainError:
    errors = field_error("login", "INVALID_LOGIN", "Login or password is invalid.")
    merge_field_errors(
        errors, field_error("password", "INVALID_LOGIN", "Login or password is invalid.")
    )
    return DomainError(Error.INVALID_FORM_BODY, errors=errors)


def username_taken() -> DomainError:
    return DomainError(
        Error.INVALID_FORM_BODY,
        errors=field_error(
            "username",
            "USERNAME_ALREADY_TAKEN",
            "Username is unavailable. Try adding numbers, letters, underscores _ , or periods.",
        ),
    )


async def _open_session(
    ctx: Context, conn: Connection, user_id: int, client_info: str
) -> TokenPair:
    now = ctx.now()
    token = credentials.new_token(user_id)
    refresh = credentials.new_refresh_token()
    await conn.execute(
        """INSERT INTO auth_tokens (id, user_id, kind, token_hash, refresh_hash, expires_at,
                                    refresh_expires_at, client_info, created_at, last_used_at)
           VALUES ($1, $2, 'session', $3, $4, $5, $6, $7, $8, $8)""",
        ctx.ids.next(),
        user_id,
        credentials.token_hash(token),
        credentials.token_hash(refresh),
        now + timedelta(seconds=ctx.settings.session_ttl),
        now + timedelta(seconds=ctx.settings.refresh_ttl),
        client_info,
        now,
    )
    return TokenPair(user_id, token, refresh, ctx.settings.session_ttl)


async def register(
    ctx: Context,
    *,
    username: str,
    password: str,
    global_name: str | None = None,
    email: str | None = None,
    client_info: str = "",
) -> TokenPair:
    if ctx.settings.registration != "open":
        raise DomainError(Error.REGISTRATION_CLOSED)
    password_hash = await credentials.hash_password(password)
    user_id = ctx.ids.next()

    async def body(conn: Connection) -> TokenPair:
        await check_account_room(ctx, conn)
        try:
            async with conn.transaction():  # a savepoint, so a taken name is a clean error
                await conn.execute(
                    """INSERT INTO users (id, username, global_name, email, password_hash,
                                          created_at)
                       VALUES ($1, $2, $3, $4, $5, $6)""",
                    user_id,
                    username,
                    global_name,
                    email,
                    password_hash,
                    ctx.now(),
                )
        except asyncpg.UniqueViolationError:
            raise username_taken() from None
        await _first_person_is_admin(conn, user_id)
        return await _open_session(ctx, conn, user_id, client_info)

    return await ctx.db.write(body)


async def login(ctx: Context, *, login: str, password: str, client_info: str = "") -> TokenPair:
    row = await ctx.db.fetchrow(
        "SELECT id, password_hash FROM users WHERE lower(username) = lower($1) AND NOT bot",
        login,
    )
    stored = row["password_hash"] if row is not None else None
    # verify_password(None, ...) costs as much as a wrong password: no user enumeration.
    if not await credentials.verify_password(stored, password) or row is None or stored is None:
        raise _invalid_login()
    user_id = int(row["id"])
    new_hash = (
        await credentials.hash_password(password) if credentials.needs_rehash(stored) else None
    )

    async def body(conn: Connection) -> TokenPair:
        if new_hash is not None:
            await conn.execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, new_hash
            )
        return await _open_session(ctx, conn, user_id, client_info)

    return await ctx.db.write(body)


async def refresh(ctx: Context, refresh_token: str) -> TokenPair:
    """Rotate a session's tokens. Presenting a refresh token that was already rotated
    away means it leaked: the whole session is revoked (OAuth 2.0 reuse detection)."""
    digest = credentials.token_hash(refresh_token)
    now = ctx.now()

    async def body(conn: Connection) -> TokenPair | None:
        row = await conn.fetchrow(
            """SELECT * FROM auth_tokens WHERE kind = 'session' AND revoked_at IS NULL
               AND (refresh_hash = $1 OR prev_refresh_hash = $1) FOR UPDATE""",
            digest,
        )
        if row is None:
            raise DomainError(Error.UNAUTHORIZED)
        if row["refresh_hash"] != digest:
            # Reused: revoke, and let the revocation commit before refusing.
            await conn.execute(
                "UPDATE auth_tokens SET revoked_at = $2 WHERE id = $1", row["id"], now
            )
            return None
        if row["refresh_expires_at"] <= now:
            raise DomainError(Error.UNAUTHORIZED)
        token = credentials.new_token(row["user_id"])
        new_refresh = credentials.new_refresh_token()
        await conn.execute(
            """UPDATE auth_tokens SET token_hash = $2, refresh_hash = $3, prev_refresh_hash = $4,
                      expires_at = $5, last_used_at = $6 WHERE id = $1""",
            row["id"],
            credentials.token_hash(token),
            credentials.token_hash(new_refresh),
            digest,
            now + timedelta(seconds=ctx.settings.session_ttl),
            now,
        )
        return TokenPair(row["user_id"], token, new_refresh, ctx.settings.session_ttl)

    pair = await ctx.db.write(body)
    if pair is None:
        raise DomainError(Error.UNAUTHORIZED)
    return pair


async def authenticate(ctx: Context, authorization: str) -> Authenticated:
    """Resolve an ``Authorization`` header: ``Bot <token>`` for bots, the bare token (as
    Discord's own client sends it) or ``Bearer <token>`` for people."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme == "Bot":
        return await authenticate_token(ctx, value.strip(), bot=True)
    if scheme == "Bearer":
        return await authenticate_token(ctx, value.strip(), bot=False)
    return await authenticate_token(ctx, authorization.strip(), bot=False)


async def authenticate_token(ctx: Context, token: str, *, bot: bool | None = None) -> Authenticated:
    """Resolve a token; ``bot`` (when given) must match the account kind. The gateway
    passes None: IDENTIFY carries the bare token for people and bots alike."""
    if not token or len(token) > 512:
        raise DomainError(Error.UNAUTHORIZED)
    row = await ctx.db.fetchrow(
        """SELECT t.id, t.user_id, t.kind, t.expires_at, t.last_used_at, u.bot
           FROM auth_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL""",
        credentials.token_hash(token),
    )
    now = ctx.now()
    if row is None or (row["expires_at"] is not None and row["expires_at"] <= now):
        raise DomainError(Error.UNAUTHORIZED)
    if bot is not None and row["bot"] != bot:
        raise DomainError(Error.UNAUTHORIZED)
    if now - row["last_used_at"] > _TOUCH_INTERVAL:
        await ctx.db.execute(
            "UPDATE auth_tokens SET last_used_at = $2 WHERE id = $1", row["id"], now
        )
    return Authenticated(Actor(int(row["user_id"]), bool(row["bot"])), int(row["id"]), row["kind"])


async def logout(ctx: Context, token_id: int) -> None:
    await ctx.db.execute(
        "UPDATE auth_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        token_id,
        ctx.now(),
    )


async def list_sessions(ctx: Context, actor: Actor, current_token_id: int) -> list[dict[str, Any]]:
    rows = await ctx.db.fetch(
        """SELECT id, client_info, created_at, last_used_at FROM auth_tokens
           WHERE user_id = $1 AND kind = 'session' AND revoked_at IS NULL
             AND refresh_expires_at > $2 ORDER BY created_at DESC""",
        actor.user_id,
        ctx.now(),
    )
    return [
        {
            "id": str(r["id"]),
            "client_info": r["client_info"],
            "created_at": shapes.ts(r["created_at"]),
            "approx_last_used_time": shapes.ts(r["last_used_at"]),
            "current": r["id"] == current_token_id,
        }
        for r in rows
    ]


async def revoke_sessions(ctx: Context, actor: Actor, session_ids: list[int]) -> None:
    await ctx.db.execute(
        """UPDATE auth_tokens SET revoked_at = $3
           WHERE user_id = $1 AND kind = 'session' AND id = ANY($2) AND revoked_at IS NULL""",
        actor.user_id,
        session_ids,
        ctx.now(),
    )


async def change_password(
    ctx: Context, actor: Actor, *, password: str, new_password: str, client_info: str = ""
) -> TokenPair:
    """Change the password and sign out every other session; returns a fresh session."""
    row = await ctx.db.fetchrow("SELECT password_hash FROM users WHERE id = $1", actor.user_id)
    if row is None or not await credentials.verify_password(row["password_hash"], password):
        raise DomainError(
            Error.INVALID_FORM_BODY,
            errors=field_error("password", "PASSWORD_DOES_NOT_MATCH", "Password does not match."),
        )
    new_hash = await credentials.hash_password(new_password)

    async def body(conn: Connection) -> TokenPair:
        await conn.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", actor.user_id, new_hash
        )
        await conn.execute(
            """UPDATE auth_tokens SET revoked_at = $2
               WHERE user_id = $1 AND kind = 'session' AND revoked_at IS NULL""",
            actor.user_id,
            ctx.now(),
        )
        return await _open_session(ctx, conn, actor.user_id, client_info)

    return await ctx.db.write(body)


async def update_profile(ctx: Context, actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    """``PATCH /users/@me`` for ``username`` and ``global_name``; emits USER_UPDATE."""

    async def body(conn: Connection) -> dict[str, Any]:
        if "username" in changes and actor.bot:
            raise DomainError(Error.INVALID_ACCOUNT_TYPE)
        fields: dict[str, Any] = {
            k: changes[k] for k in ("username", "global_name") if k in changes
        }
        row = await one(conn, "SELECT * FROM users WHERE id = $1", actor.user_id)
        if fields:
            try:
                async with conn.transaction():  # a savepoint: a taken name is a clean error
                    row = await update(conn, "users", {"id": actor.user_id}, fields)
            except asyncpg.UniqueViolationError:
                raise username_taken() from None
        data = shapes.current_user(row)
        if fields:
            await events.emit_user(conn, actor.user_id, "USER_UPDATE", data)
        return data

    return await ctx.db.write(body)
