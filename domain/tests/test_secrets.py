"""Instance secrets, both ways: created once in the database and shared by every process
on it, or derived from ``SPECTRUS_SECRET_KEY`` so processes agree without the table."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from spectrus_domain import attachments
from spectrus_domain.attachments import UrlSigner, load_signer
from spectrus_domain.storage import connect
from spectrus_domain.storage.secrets import derive_secret, instance_secret

KEY = "0123456789abcdef0123456789abcdef-operator"
OTHER_KEY = "fedcba9876543210fedcba9876543210-operator"
PATH = attachments.path_of(111, 222, "report.pdf")
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _verifies(signer: UrlSigner, issued_by: UrlSigner) -> bool:
    query = {k: v[0] for k, v in parse_qs(issued_by.query(PATH, NOW)).items()}
    return signer.verify(PATH, query["ex"], query["is"], query["hm"], NOW)


async def test_without_a_key_processes_share_the_secret_kept_in_the_database(db, dsn) -> None:
    assert await db.fetchval("SELECT count(*) FROM instance_secrets") == 0
    second_process = await connect(dsn, min_size=1, max_size=2, migrate=False)
    try:
        first = await load_signer(db, "https://chat.example")
        second = await load_signer(second_process, "https://chat.example")
    finally:
        await second_process.close()
    assert first.secret == second.secret and len(first.secret) == 32
    assert _verifies(second, issued_by=first)
    stored = await db.fetchval(
        "SELECT value FROM instance_secrets WHERE name = $1", attachments.SECRET_NAME
    )
    assert bytes(stored) == first.secret
    # Another name is another secret.
    assert await instance_secret(db, "something_else") != first.secret


async def test_with_a_key_the_secret_is_derived_and_the_table_is_left_alone(db, empty_dsn) -> None:
    # The second process's database is another one altogether (not even migrated): a
    # derived secret cannot depend on what the database holds.
    first = await load_signer(db, "https://chat.example", secret_key=KEY)
    second_process = await connect(empty_dsn, min_size=1, max_size=2, migrate=False)
    try:
        second = await load_signer(second_process, "https://chat.example", secret_key=KEY)
    finally:
        await second_process.close()
    assert first.secret == second.secret
    assert first.secret == hmac.new(KEY.encode(), b"attachment_urls", hashlib.sha256).digest()
    assert _verifies(second, issued_by=first)
    assert await db.fetchval("SELECT count(*) FROM instance_secrets") == 0

    other_key = await load_signer(db, "https://chat.example", secret_key=OTHER_KEY)
    assert not _verifies(other_key, issued_by=first)
    kept_in_table = await load_signer(db, "https://chat.example")
    assert not _verifies(kept_in_table, issued_by=first)
    assert not _verifies(first, issued_by=kept_in_table)


def test_each_name_gets_its_own_secret_and_short_keys_are_refused() -> None:
    assert derive_secret(KEY, "a") != derive_secret(KEY, "b")
    assert derive_secret(KEY, "a") == derive_secret(KEY, "a")
    with pytest.raises(ValueError, match="at least 32"):
        derive_secret("short", "a")
