"""Every error a client can see, defined once: HTTP status, Discord JSON code, message.

Services translate ``DomainError`` into their transport: the api into Discord's error body
(``{"code", "message", "errors"?}``), the gateway into a close code where one applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    http_status: int
    code: int
    message: str
    close_code: int | None = None


class Error(Enum):
    """Each value is unique: Enum would silently alias two equal specs."""

    # Generic HTTP errors carry Discord's code 0 and status-prefixed message.
    UNAUTHORIZED = ErrorSpec(401, 0, "401: Unauthorized", 4004)
    NOT_FOUND = ErrorSpec(404, 0, "404: Not Found")
    METHOD_NOT_ALLOWED = ErrorSpec(405, 0, "405: Method Not Allowed")
    PAYLOAD_TOO_LARGE = ErrorSpec(413, 40005, "Request entity too large")
    RATE_LIMITED = ErrorSpec(429, 0, "You are being rate limited.", 4008)

    UNKNOWN_APPLICATION = ErrorSpec(404, 10002, "Unknown Application")
    UNKNOWN_CHANNEL = ErrorSpec(404, 10003, "Unknown Channel")
    UNKNOWN_GUILD = ErrorSpec(404, 10004, "Unknown Guild")
    UNKNOWN_INVITE = ErrorSpec(404, 10006, "Unknown Invite")
    UNKNOWN_MEMBER = ErrorSpec(404, 10007, "Unknown Member")
    UNKNOWN_MESSAGE = ErrorSpec(404, 10008, "Unknown Message")
    UNKNOWN_ROLE = ErrorSpec(404, 10011, "Unknown Role")
    UNKNOWN_USER = ErrorSpec(404, 10013, "Unknown User")
    UNKNOWN_EMOJI = ErrorSpec(400, 10014, "Unknown Emoji")
    UNKNOWN_BAN = ErrorSpec(404, 10026, "Unknown Ban")

    BOTS_CANNOT_USE = ErrorSpec(403, 20001, "Bots cannot use this endpoint")

    MAX_GUILDS = ErrorSpec(400, 30001, "Maximum number of guilds reached (100)")
    MAX_EMOJIS = ErrorSpec(400, 30008, "Maximum number of emojis reached (50)")
    MAX_PINS = ErrorSpec(400, 30003, "Maximum number of pins reached for the channel (50)")
    MAX_RECIPIENTS = ErrorSpec(400, 30004, "Maximum number of recipients reached (10)")
    MAX_ROLES = ErrorSpec(400, 30005, "Maximum number of guild roles reached (250)")
    MAX_REACTIONS = ErrorSpec(400, 30010, "Maximum number of reactions reached (20)")
    MAX_CHANNELS = ErrorSpec(400, 30013, "Maximum number of guild channels reached (500)")
    MAX_INVITES = ErrorSpec(400, 30016, "Maximum number of invites reached (1000)")

    BANNED_FROM_GUILD = ErrorSpec(403, 40007, "The user is banned from this guild")
    REGISTRATION_CLOSED = ErrorSpec(403, 40008, "Registration is closed on this instance")
    MAX_ACCOUNTS = ErrorSpec(403, 40009, "This instance has reached its maximum number of accounts")

    MISSING_ACCESS = ErrorSpec(403, 50001, "Missing Access")
    INVALID_ACCOUNT_TYPE = ErrorSpec(403, 50002, "Invalid account type")
    DM_CHANNEL = ErrorSpec(403, 50003, "Cannot execute action on a DM channel")
    NOT_AUTHOR = ErrorSpec(403, 50005, "Cannot edit a message authored by another user")
    EMPTY_MESSAGE = ErrorSpec(400, 50006, "Cannot send an empty message")
    CANNOT_MESSAGE_USER = ErrorSpec(403, 50007, "Cannot send messages to this user")
    NOT_TEXT_CHANNEL = ErrorSpec(403, 50008, "Cannot send messages in a non-text channel")
    MISSING_PERMISSIONS = ErrorSpec(403, 50013, "Missing Permissions")
    BULK_DELETE_COUNT = ErrorSpec(
        400,
        50016,
        "Provided too few or too many messages to delete. "
        "Must provide at least 2 and fewer than 100 messages to delete.",
    )
    INVALID_CHANNEL_TYPE = ErrorSpec(400, 50024, "Cannot execute action on this channel type")
    BULK_DELETE_TOO_OLD = ErrorSpec(400, 50034, "A message provided was too old to bulk delete")
    INVALID_FORM_BODY = ErrorSpec(400, 50035, "Invalid Form Body", 4002)
    INVALID_JSON = ErrorSpec(400, 50109, "The request body contains invalid JSON.", 4002)
    FILE_TOO_LARGE = ErrorSpec(413, 40006, "File uploaded exceeds the maximum size")
    UPLOAD_EXPIRED = ErrorSpec(400, 50046, "The upload expired; send the files again")
    NOT_IN_VOICE = ErrorSpec(400, 40032, "Target user is not connected to voice.")
    SLOWMODE = ErrorSpec(429, 20016, "This action cannot be performed due to slowmode rate limit.")


FieldErrors = dict[str, Any]
"""Discord's nested form errors: ``{"field": {"_errors": [{"code", "message"}]}}``."""


class DomainError(Exception):
    """Raised by actions and queries; the transport renders it."""

    def __init__(
        self,
        error: Error,
        *,
        errors: FieldErrors | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.error = error
        self.errors = errors
        self.retry_after = retry_after
        self.message = message or error.value.message
        super().__init__(f"{error.name}: {self.message}")

    @property
    def spec(self) -> ErrorSpec:
        return self.error.value

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.spec.code}
        if self.errors:
            body["errors"] = self.errors
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
            body["global"] = False
        return body


def field_error(path: str, code: str, message: str) -> FieldErrors:
    """One nested form error at a dotted ``path`` (list indexes are plain segments)."""
    node: FieldErrors = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        node = {part: node}
    return node


def merge_field_errors(into: FieldErrors, more: FieldErrors) -> FieldErrors:
    for key, value in more.items():
        if key == "_errors":
            into.setdefault("_errors", []).extend(value)
        else:
            merge_field_errors(into.setdefault(key, {}), value)
    return into


def invalid_form(path: str, code: str, message: str) -> DomainError:
    return DomainError(Error.INVALID_FORM_BODY, errors=field_error(path, code, message))
