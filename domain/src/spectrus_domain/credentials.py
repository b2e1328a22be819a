"""Passwords and tokens: Argon2id for passwords, SHA-256 of random tokens at rest.

Argon2id runs with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane); hashes made
with weaker parameters are upgraded at the next successful login. Tokens are 256-bit
random secrets, so a fast hash is enough to make a stolen database useless for login.
Hashing runs in a worker thread: it is deliberately slow and must not stall the loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19_456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)
# Verified against when the account does not exist, so a wrong username costs as much
# time as a wrong password and does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_token(user_id: int) -> str:
    """Discord's token layout: ``base64(user id).base64(time).secret``. Libraries read
    the first part for the user id; the secret carries the 256 bits of entropy."""
    issued = int(time.time()).to_bytes(6, "big").lstrip(b"\0")
    return f"{_b64(str(user_id).encode())}.{_b64(issued)}.{secrets.token_urlsafe(32)}"


def new_refresh_token() -> str:
    return "spr_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
