"""Messages, reactions and pins (``/channels/{id}/messages/...``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field, model_validator

from spectrus_api.deps import Ctx, CurrentActor, Previewer, Reason, Store
from spectrus_api.ratelimit import RateLimitedRoute, limit
from spectrus_api.uploads import Blob, Upload, describe_uploads, read_message_body, staged
from spectrus_api.validation import Body, Snowflake, SnowflakePath, SnowflakeQuery, Text, Timestamp
from spectrus_domain import limits, mentions, search, shapes, views
from spectrus_domain.actions import messages, read_states
from spectrus_domain.actions.messages import NewAttachment
from spectrus_domain.errors import invalid_form
from spectrus_domain.ids import MAX_SNOWFLAKE

router = APIRouter(route_class=RateLimitedRoute, tags=["messages"])

Emoji = Annotated[str, Path(min_length=1, max_length=64)]
Url = Annotated[str, Text(limits.URL_MAX)]


class EmbedFooter(Body):
    text: Annotated[str, Text(limits.EMBED_FOOTER_MAX)]
    icon_url: Url | None = None


class EmbedMedia(Body):
    url: Url


class EmbedAuthor(Body):
    name: Annotated[str, Text(limits.EMBED_AUTHOR_MAX)]
    url: Url | None = None
    icon_url: Url | None = None


class EmbedField(Body):
    name: Annotated[str, Text(limits.EMBED_FIELD_NAME_MAX, 1)]
    value: Annotated[str, Text(limits.EMBED_FIELD_VALUE_MAX, 1)]
    inline: bool = False


class Embed(Body):
    """A rich embed as bots send them; the stored form drops absent fields."""

    title: Annotated[str, Text(limits.EMBED_TITLE_MAX)] | None = None
    type: Annotated[str, Text(16)] = "rich"
    description: Annotated[str, Text(limits.EMBED_DESCRIPTION_MAX)] | None = None
    url: Url | None = None
    timestamp: Timestamp | None = None
    color: Annotated[int, Field(ge=0, le=limits.COLOR_MAX)] | None = None
    footer: EmbedFooter | None = None
    image: EmbedMedia | None = None
    thumbnail: EmbedMedia | None = None
    author: EmbedAuthor | None = None
    fields: list[EmbedField] = Field(default_factory=list, max_length=limits.EMBED_FIELDS_MAX)

    def total_chars(self) -> int:
        parts = [
            self.title,
            self.description,
            self.footer and self.footer.text,
            self.author and self.author.name,
        ]
        parts += [f.name + f.value for f in self.fields]
        return sum(len(p) for p in parts if p)

    def stored(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
        if not data.get("fields"):
            data.pop("fields", None)
        return data


class Reference(Body):
    message_id: Snowflake | None = None
    channel_id: Snowflake | None = None
    guild_id: Snowflake | None = None
    fail_if_not_exists: bool = True


class AllowedMentions(Body):
    parse: list[Literal["users", "roles", "everyone"]] = Field(default_factory=list, max_length=3)
    users: list[Snowflake] = Field(default_factory=list, max_length=100)
    roles: list[Snowflake] = Field(default_factory=list, max_length=100)
    replied_user: bool = False

    @model_validator(mode="after")
    def _exclusive(self) -> AllowedMentions:
        for kind in ("users", "roles"):
            if kind in self.parse and getattr(self, kind):
                raise ValueError(f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.')
        return self

    def rules(self) -> mentions.Allowed:
        return mentions.Allowed(
            frozenset(self.parse), frozenset(self.users), frozenset(self.roles), self.replied_user
        )


class AttachmentRef(Body):
    """An entry of ``attachments``: a file of this request (``id`` = its n in
    ``files[n]``) with the name and description to give it, or, when editing, an
    attachment the message keeps (``id`` = its snowflake)."""

    id: Snowflake
    filename: Annotated[str, Text(limits.FILENAME_MAX)] | None = None
    description: Annotated[str, Text(limits.ATTACHMENT_DESCRIPTION_MAX)] | None = None


Attachments = Annotated[list[AttachmentRef], Field(max_length=limits.ATTACHMENTS_PER_MESSAGE)]


def _check_embed_budget(embeds: list[Embed]) -> None:
    if sum(e.total_chars() for e in embeds) > limits.EMBED_TOTAL_CHARS:
        raise ValueError("Embed size exceeds maximum size of 6000")


class NewMessage(Body):
    content: Annotated[str, Text(limits.MESSAGE_CONTENT_MAX)] = ""
    nonce: (
        Annotated[str, Text(limits.NONCE_MAX)]
        | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
        | None
    ) = None
    enforce_nonce: bool = False
    tts: bool = False
    embeds: Annotated[list[Embed], Field(max_length=limits.EMBEDS_PER_MESSAGE)] | None = None
    embed: Embed | None = None  # the single-embed form older libraries still send
    message_reference: Reference | None = None
    allowed_mentions: AllowedMentions | None = None
    flags: Annotated[int, Field(ge=0, le=(1 << 31) - 1)] = 0
    attachments: Attachments | None = None

    @model_validator(mode="after")
    def _embed_budget(self) -> NewMessage:
        _check_embed_budget(self.all_embeds())
        return self

    def all_embeds(self) -> list[Embed]:
        return (self.embeds or []) + ([self.embed] if self.embed else [])


class MessagePatch(Body):
    content: Annotated[str, Text(limits.MESSAGE_CONTENT_MAX)] | None = None
    embeds: Annotated[list[Embed], Field(max_length=limits.EMBEDS_PER_MESSAGE)] | None = None
    flags: Annotated[int, Field(ge=0, le=(1 << 31) - 1)] | None = None
    allowed_mentions: AllowedMentions | None = None
    attachments: Attachments | None = None

    @model_validator(mode="after")
    def _embed_budget(self) -> MessagePatch:
        _check_embed_budget(self.embeds or [])
        return self


@router.get("/channels/{channel_id}/messages")
async def list_messages(
    channel_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    around: SnowflakeQuery = None,
    before: SnowflakeQuery = None,
    after: SnowflakeQuery = None,
    limit: Annotated[int, Query(ge=1, le=limits.MESSAGE_PAGE_MAX)] = 50,
) -> list[dict[str, Any]]:
    if sum(x is not None for x in (around, before, after)) > 1:
        raise invalid_form(
            "around", "BASE_TYPE_INVALID", "Only one of around, before and after may be given"
        )
    return await views.list_messages(
        ctx, actor, channel_id, before=before, after=after, around=around, limit=limit
    )


def _message_body(model: type[Body]) -> dict[str, Any]:
    """OpenAPI for a body read by ``read_message_body``: JSON, or multipart with files."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    multipart = {
        "type": "object",
        "properties": {
            "payload_json": {"type": "string", "description": "the JSON body"},
            **{f"files[{n}]": {"type": "string", "format": "binary"} for n in range(3)},
        },
    }
    return {
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": schema},
                "multipart/form-data": {"schema": multipart},
            },
        },
        "x-components": defs,
    }


async def _described(
    ctx: Ctx,
    actor: CurrentActor,
    channel_id: int,
    uploads: list[Upload],
    refs: list[AttachmentRef],
) -> tuple[list[NewAttachment], list[Blob]]:
    if not uploads:
        return [], []
    # Checked before anything is stored; the message action checks again when it commits.
    await views.require_may_attach(ctx, actor, channel_id)
    return await describe_uploads(ctx, uploads, [r.model_dump() for r in refs])


@router.post("/channels/{channel_id}/messages", openapi_extra=_message_body(NewMessage))
@limit("messages.create", 10, 5, major="channel_id")
async def create_message(
    channel_id: SnowflakePath,
    request: Request,
    actor: CurrentActor,
    ctx: Ctx,
    store: Store,
    previewer: Previewer,
) -> dict[str, Any]:
    body, uploads = await read_message_body(request, NewMessage)
    reference = body.message_reference.model_dump() if body.message_reference else None
    new_files, blobs = await _described(ctx, actor, channel_id, uploads, body.attachments or [])
    async with staged(ctx, store, blobs):
        sent = await messages.create_message(
            ctx,
            actor,
            channel_id,
            content=body.content,
            tts=body.tts,
            embeds=[e.stored() for e in body.all_embeds()],
            nonce=str(body.nonce) if body.nonce is not None else None,
            enforce_nonce=body.enforce_nonce,
            reference=reference,
            flags=body.flags,
            allowed_mentions=body.allowed_mentions.rules() if body.allowed_mentions else None,
            attachments=new_files,
        )
    if previewer is not None:
        previewer.submit(sent)
    return sent


class BulkDelete(Body):
    messages: Annotated[list[Snowflake], Field(max_length=limits.BULK_DELETE_MAX)]


@router.post("/channels/{channel_id}/messages/bulk-delete", status_code=204)
@limit("messages.bulk_delete", 5, 5, major="channel_id")
async def bulk_delete(
    channel_id: SnowflakePath, body: BulkDelete, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> Response:
    await messages.bulk_delete(ctx, actor, channel_id, body.messages, reason)
    return Response(status_code=204)


@router.get("/channels/{channel_id}/messages/pins")
async def pins_page(
    channel_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    before: Timestamp | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 50,
) -> dict[str, Any]:
    page, has_more = await views.pins(ctx, actor, channel_id, before=before, limit=limit)
    return {
        "items": [{"pinned_at": shapes.ts(at), "message": m} for at, m in page],
        "has_more": has_more,
    }


@router.get("/channels/{channel_id}/pins")
async def pins_legacy(
    channel_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> list[dict[str, Any]]:
    page, _ = await views.pins(ctx, actor, channel_id, before=None, limit=limits.PINS_PER_CHANNEL)
    return [m for _at, m in page]


async def _pin(
    ctx: Any, actor: Any, channel_id: int, message_id: int, pinned: bool, reason: str | None
) -> Response:
    await messages.set_pinned(ctx, actor, channel_id, message_id, pinned=pinned, reason=reason)
    return Response(status_code=204)


@router.put("/channels/{channel_id}/messages/pins/{message_id}", status_code=204)
@limit("pins", 5, 5, major="channel_id")
async def pin(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    return await _pin(ctx, actor, channel_id, message_id, True, reason)


@router.delete("/channels/{channel_id}/messages/pins/{message_id}", status_code=204)
@limit("pins", 5, 5, major="channel_id")
async def unpin(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    return await _pin(ctx, actor, channel_id, message_id, False, reason)


@router.put("/channels/{channel_id}/pins/{message_id}", status_code=204)
@limit("pins", 5, 5, major="channel_id")
async def pin_legacy(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    return await _pin(ctx, actor, channel_id, message_id, True, reason)


@router.delete("/channels/{channel_id}/pins/{message_id}", status_code=204)
@limit("pins", 5, 5, major="channel_id")
async def unpin_legacy(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    return await _pin(ctx, actor, channel_id, message_id, False, reason)


@router.get("/channels/{channel_id}/messages/{message_id}")
async def get_message(
    channel_id: SnowflakePath, message_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await views.get_message(ctx, actor, channel_id, message_id)


@router.patch(
    "/channels/{channel_id}/messages/{message_id}", openapi_extra=_message_body(MessagePatch)
)
@limit("messages.edit", 10, 5, major="channel_id")
async def edit_message(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    request: Request,
    actor: CurrentActor,
    ctx: Ctx,
    store: Store,
    previewer: Previewer,
) -> dict[str, Any]:
    body, uploads = await read_message_body(request, MessagePatch)
    changes = body.model_dump(
        exclude_unset=True, exclude={"embeds", "allowed_mentions", "attachments"}
    )
    if "embeds" in body.model_fields_set:
        changes["embeds"] = [e.stored() for e in body.embeds or []]
    upload_indexes = {u.index for u in uploads}
    refs = body.attachments
    if refs is not None:  # the attachments to keep; entries naming a file of this request are new
        changes["attachments"] = [r.id for r in refs if r.id not in upload_indexes]
    new_files, blobs = await _described(
        ctx, actor, channel_id, uploads, [r for r in refs or [] if r.id in upload_indexes]
    )
    rules = body.allowed_mentions.rules() if body.allowed_mentions else None
    async with staged(ctx, store, blobs):
        edited = await messages.edit_message(
            ctx, actor, channel_id, message_id, changes, rules, new_attachments=new_files
        )
    if previewer is not None and "content" in changes:
        previewer.submit(edited)
    return edited


@router.post("/channels/{channel_id}/messages/{message_id}/ack")
@limit("messages.ack", 10, 5, major="channel_id")
async def ack_message(
    channel_id: SnowflakePath, message_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    """Mark the channel read up to this message (Discord's client API)."""
    return await read_states.ack(ctx, actor, channel_id, message_id)


@router.delete("/channels/{channel_id}/messages/{message_id}", status_code=204)
@limit("messages.delete", 10, 1, major="channel_id")
async def delete_message(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    await messages.delete_message(ctx, actor, channel_id, message_id, reason)
    return Response(status_code=204)


# --- reactions ------------------------------------------------------------------------


@router.put("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", status_code=204)
@limit("reactions", 10, 1, major="channel_id")
async def add_reaction(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    emoji: Emoji,
    actor: CurrentActor,
    ctx: Ctx,
) -> Response:
    await messages.add_reaction(ctx, actor, channel_id, message_id, emoji)
    return Response(status_code=204)


@router.delete(
    "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", status_code=204
)
@limit("reactions", 10, 1, major="channel_id")
async def remove_own_reaction(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    emoji: Emoji,
    actor: CurrentActor,
    ctx: Ctx,
) -> Response:
    await messages.remove_reaction(ctx, actor, channel_id, message_id, emoji, actor.user_id)
    return Response(status_code=204)


@router.delete(
    "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}", status_code=204
)
@limit("reactions", 10, 1, major="channel_id")
async def remove_user_reaction(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    emoji: Emoji,
    user_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
) -> Response:
    await messages.remove_reaction(ctx, actor, channel_id, message_id, emoji, user_id)
    return Response(status_code=204)


@router.get("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}")
async def reaction_users(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    emoji: Emoji,
    actor: CurrentActor,
    ctx: Ctx,
    after: Annotated[int, Query(ge=0, le=(1 << 63) - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=limits.REACTION_USERS_PAGE_MAX)] = 25,
    type: Annotated[int, Query(ge=0, le=1)] = 0,
) -> list[dict[str, Any]]:
    return await views.reaction_users(
        ctx, actor, channel_id, message_id, emoji, after=after, limit=limit, burst=type == 1
    )


@router.delete("/channels/{channel_id}/messages/{message_id}/reactions/{emoji}", status_code=204)
@limit("reactions.clear", 5, 1, major="channel_id")
async def clear_emoji(
    channel_id: SnowflakePath,
    message_id: SnowflakePath,
    emoji: Emoji,
    actor: CurrentActor,
    ctx: Ctx,
) -> Response:
    await messages.clear_reactions(ctx, actor, channel_id, message_id, emoji)
    return Response(status_code=204)


@router.delete("/channels/{channel_id}/messages/{message_id}/reactions", status_code=204)
@limit("reactions.clear", 5, 1, major="channel_id")
async def clear_all(
    channel_id: SnowflakePath, message_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> Response:
    await messages.clear_reactions(ctx, actor, channel_id, message_id, None)
    return Response(status_code=204)


SnowflakeList = Annotated[
    list[Annotated[int, Field(ge=0, le=MAX_SNOWFLAKE)]], Query(max_length=100)
]


@router.get("/guilds/{guild_id}/messages/search")
@limit("messages.search", 10, 10, major="guild_id")
async def search_messages(
    guild_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    content: Annotated[str, Query(max_length=1024)] = "",
    author_id: SnowflakeList = [],  # noqa: B006 - FastAPI copies query defaults
    channel_id: SnowflakeList = [],  # noqa: B006
    mentions: SnowflakeList = [],  # noqa: B006
    has: Annotated[list[search.HasKind], Query(max_length=7)] = [],  # noqa: B006
    min_id: SnowflakeQuery = None,
    max_id: SnowflakeQuery = None,
    pinned: bool | None = None,
    mention_everyone: bool | None = None,
    author_type: Literal["user", "bot"] | None = None,
    sort_by: Literal["timestamp", "relevance"] = "timestamp",
    sort_order: Literal["desc", "asc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=25)] = 25,
    offset: Annotated[int, Query(ge=0, le=search.MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    query = search.SearchQuery(
        content=content,
        author_ids=author_id,
        channel_ids=channel_id,
        mentions=mentions,
        has=has,
        min_id=min_id,
        max_id=max_id,
        pinned=pinned,
        mention_everyone=mention_everyone,
        author_type=author_type,
        sort_by=sort_by,
        sort_order=sort_order,
        limit=limit,
        offset=offset,
    )
    return await search.search_messages(ctx, actor, guild_id, query)
