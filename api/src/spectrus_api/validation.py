"""Input types with their limits, and pydantic errors rendered the way Discord does.

Every string a client sends passes ``Text``: bounded, free of NUL (PostgreSQL cannot store
it) and of lone surrogates (not encodable as UTF-8). Snowflakes are accepted as strings or
numbers, as Discord accepts them, and must fit PostgreSQL's bigint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
)
from pydantic_core import ErrorDetails, core_schema

from spectrus_domain.errors import FieldErrors, merge_field_errors
from spectrus_domain.ids import MAX_SNOWFLAKE
from spectrus_domain.limits import AUDIT_REASON_MAX
from spectrus_domain.permissions import ALL_PERMISSIONS

_NO_NUL = r"^[^\x00]*$"


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Must be valid Unicode text") from None
    return value


@dataclass(frozen=True)
class Text:
    """Metadata for ``Annotated[str, Text(max, min)]``: a string of ``min``..``max``
    characters that PostgreSQL can store."""

    max_length: int
    min_length: int = 0

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _encodable,
            core_schema.str_schema(
                min_length=self.min_length, max_length=self.max_length, pattern=_NO_NUL
            ),
        )


def _snowflake(value: Any) -> Any:
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return int(value)
    return value


Snowflake = Annotated[
    int,
    BeforeValidator(_snowflake),
    Field(ge=0, le=MAX_SNOWFLAKE, json_schema_extra={"format": "snowflake"}),
]
"""An id in a body: a decimal string or a number."""

SnowflakePath = Annotated[int, Path(ge=0, le=MAX_SNOWFLAKE)]
SnowflakeQuery = Annotated[int | None, Query(ge=0, le=MAX_SNOWFLAKE)]


def _permission_bits(value: Any) -> Any:
    """Discord sends bitfields as decimal strings; unknown bits are dropped."""
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 20:
            raise ValueError("Must be a permission bitfield as a decimal string")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("Must be a permission bitfield as a decimal string")
    return value & ALL_PERMISSIONS


Permissions = Annotated[
    int,
    BeforeValidator(_permission_bits),
    Field(json_schema_extra={"type": "string", "pattern": r"^[0-9]{1,19}$"}),
]


class Body(BaseModel):
    """Request bodies ignore unknown fields, as Discord's API does."""

    model_config = ConfigDict(extra="ignore")


def parse_timestamp(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 64:
        raise ValueError("Timestamp too long")
    return value


def _aware(value: datetime) -> datetime:
    """ISO 8601 without an offset means UTC (comparing it with aware times would fail)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp), AfterValidator(_aware)]


# --- rendering errors ---------------------------------------------------------------

_CODES = {
    "missing": ("BASE_TYPE_REQUIRED", "This field is required"),
    "string_too_long": ("BASE_TYPE_BAD_LENGTH", "Must be between {min} and {max} in length."),
    "string_too_short": ("BASE_TYPE_BAD_LENGTH", "Must be between {min} and {max} in length."),
    "string_type": ("BASE_TYPE_STRING", "Must be a string."),
    "string_pattern_mismatch": (
        "STRING_TYPE_REGEX",
        "String value did not match validation regex.",
    ),
    "int_parsing": ("NUMBER_TYPE_COERCE", "Value is not int."),
    "int_type": ("NUMBER_TYPE_COERCE", "Value is not int."),
    "int_from_float": ("NUMBER_TYPE_COERCE", "Value is not int."),
    "greater_than_equal": (
        "NUMBER_TYPE_MIN",
        "int value should be greater than or equal to {limit}.",
    ),
    "less_than_equal": ("NUMBER_TYPE_MAX", "int value should be less than or equal to {limit}."),
    "bool_type": ("BASE_TYPE_BOOLEAN", "Must be either true or false."),
    "bool_parsing": ("BASE_TYPE_BOOLEAN", "Must be either true or false."),
    "literal_error": ("BASE_TYPE_CHOICES", "Value must be one of {expected}."),
    "enum": ("BASE_TYPE_CHOICES", "Value must be one of {expected}."),
    "too_long": ("BASE_TYPE_MAX_LENGTH", "Must be {max} or fewer in length."),
    "too_short": ("BASE_TYPE_MIN_LENGTH", "Must be {min} or more in length."),
    "list_type": ("BASE_TYPE_ARRAY", "Must be an array."),
    "model_type": ("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"),
    "dict_type": ("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"),
    "datetime_parsing": ("DATE_TYPE_PARSE", "Could not parse {input}. Should be ISO8601."),
    "datetime_type": ("DATE_TYPE_PARSE", "Could not parse {input}. Should be ISO8601."),
    "datetime_from_date_parsing": (
        "DATE_TYPE_PARSE",
        "Could not parse {input}. Should be ISO8601.",
    ),
}
_CONTEXT_KEYS = re.compile(r"\{(\w+)\}")


def _message(template: str, error: ErrorDetails) -> str:
    ctx = dict(error.get("ctx") or {})
    ctx.setdefault("min", ctx.get("min_length", 0))
    ctx.setdefault("max", ctx.get("max_length", ""))
    ctx.setdefault("limit", ctx.get("ge", ctx.get("le", "")))
    ctx.setdefault("input", str(error.get("input"))[:64])
    return _CONTEXT_KEYS.sub(lambda m: str(ctx.get(m.group(1), "")), template)


def form_errors(errors: list[ErrorDetails] | list[dict[str, Any]]) -> FieldErrors:
    """Pydantic's flat error list as Discord's nested ``errors`` object."""
    out: FieldErrors = {}
    for error in errors:
        # ("body", "embeds", 0, "title") -> embeds.0.title; query and path keys by name.
        loc = [str(part) for part in error["loc"][1:] if not str(part).startswith("function-")]
        code, template = _CODES.get(
            error["type"], ("BASE_TYPE_INVALID", error.get("msg", "Invalid value"))
        )
        if error["type"] == "value_error":
            template = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
        node: FieldErrors = {"_errors": [{"code": code, "message": _message(template, error)}]}  # type: ignore[arg-type]
        for part in reversed(loc):
            node = {part: node}
        merge_field_errors(out, node)
    return out


def audit_reason(raw: str | None) -> str | None:
    """``X-Audit-Log-Reason`` is URL-encoded; keep it printable and bounded."""
    if not raw:
        return None
    text = unquote(raw, errors="replace")
    text = "".join(ch for ch in text if ch.isprintable() or ch == " ")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:AUDIT_REASON_MAX] or None
