"""Settings (one name per knob, env and flag alike) and the error table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from spectrus_domain.config import Settings, env_name, flag_name, load_settings
from spectrus_domain.errors import DomainError, Error, field_error, merge_field_errors


def test_environment_then_overrides() -> None:
    s = load_settings(
        {"port": 9000},
        environ={
            "SPECTRUS_PORT": "7000",
            "SPECTRUS_DATA_DIR": "/srv/x",
            "SPECTRUS_TRUST_PROXY": "yes",
            "SPECTRUS_RATE_LIMIT_SCALE": "2.5",
        },
    )
    assert (
        s.port == 9000
        and str(s.data_dir) == "/srv/x"
        and s.trust_proxy is True
        and s.rate_limit_scale == 2.5
    )
    assert load_settings(environ={}).port == 8080


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SPECTRUS_PORT": "eighty"}, "SPECTRUS_PORT"),
        ({"SPECTRUS_PORT": "70000"}, "SPECTRUS_PORT"),
        ({"SPECTRUS_REGISTRATION": "maybe"}, "SPECTRUS_REGISTRATION"),
        ({"SPECTRUS_NODE_ID": "5000"}, "SPECTRUS_NODE_ID"),
        ({"SPECTRUS_TRUST_PROXY": "perhaps"}, "SPECTRUS_TRUST_PROXY"),
        ({"SPECTRUS_SESSION_TTL": "10"}, "SPECTRUS_SESSION_TTL"),
        ({"SPECTRUS_SECRET_KEY": "x" * 31}, "SPECTRUS_SECRET_KEY"),
        ({"SPECTRUS_MAX_ACCOUNTS": "-1"}, "SPECTRUS_MAX_ACCOUNTS"),
        ({"SPECTRUS_MESSAGE_RETENTION_DAYS": "36501"}, "SPECTRUS_MESSAGE_RETENTION_DAYS"),
        ({"SPECTRUS_MESSAGE_RETENTION_DAYS": "-3"}, "SPECTRUS_MESSAGE_RETENTION_DAYS"),
        ({"SPECTRUS_NODE_ID_LEASE": "sometimes"}, "SPECTRUS_NODE_ID_LEASE"),
    ],
)
def test_bad_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(environ=env)


def test_operator_settings_are_read_and_the_key_stays_out_of_reprs() -> None:
    s = load_settings(
        environ={
            "SPECTRUS_SECRET_KEY": "k" * 32,
            "SPECTRUS_NODE_ID_LEASE": "true",
            "SPECTRUS_MAX_ACCOUNTS": "500",
            "SPECTRUS_MESSAGE_RETENTION_DAYS": "36500",
            "SPECTRUS_MEDIA_NODES_FILE": "/etc/spectrus/media-nodes",
        }
    )
    assert s.secret_key == "k" * 32 and s.node_id_lease is True and s.max_accounts == 500
    assert s.message_retention_days == 36500
    assert s.media_nodes_file == "/etc/spectrus/media-nodes"
    assert "k" * 32 not in repr(s)
    defaults = load_settings(environ={})
    assert (defaults.secret_key, defaults.node_id_lease, defaults.max_accounts) == ("", False, 0)
    assert (defaults.message_retention_days, defaults.media_nodes_file) == (0, "")


def test_names_match_between_env_and_flags() -> None:
    assert env_name("data_dir") == "SPECTRUS_DATA_DIR" and flag_name("data_dir") == "--data-dir"


def test_urls_follow_the_public_url() -> None:
    assert (
        Settings(public_url="https://chat.example.org/").websocket_url
        == "wss://chat.example.org/gateway"
    )
    assert Settings(port=1234).base_url == "http://127.0.0.1:1234"


def test_every_error_is_distinct_and_carries_a_status() -> None:
    # Enum silently aliases members with equal values; each must be its own.
    assert len(Error.__members__) == len(list(Error))
    for error in Error:
        assert 400 <= error.value.http_status < 500 and error.value.message


def test_nested_form_errors_have_discords_shape() -> None:
    errors = merge_field_errors(
        field_error("embeds.0.title", "A", "a"), field_error("embeds.0.url", "B", "b")
    )
    assert errors == {
        "embeds": {
            "0": {
                "title": {"_errors": [{"code": "A", "message": "a"}]},
                "url": {"_errors": [{"code": "B", "message": "b"}]},
            }
        }
    }
    body = DomainError(Error.INVALID_FORM_BODY, errors=errors).body()
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"


WRITE_SQL = re.compile(r"\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b", re.IGNORECASE)
WRITERS = {"actions", "storage"}
WRITER_FILES = {"events.py", "audit.py"}


def test_only_actions_write() -> None:
    """Zulip's rule, checked: SQL that changes rows lives only in domain actions (and the
    event and audit writers they call); services and reads never write."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/src/spectrus_*/**/*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] == "domain" and (set(rel.parts) & WRITERS or path.name in WRITER_FILES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and WRITE_SQL.search(node.value)
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_readme_documents_every_setting() -> None:
    import dataclasses

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for f in dataclasses.fields(Settings):
        assert f"`{env_name(f.name)}`" in readme and f"`{flag_name(f.name)}`" in readme, f.name
