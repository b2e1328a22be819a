"""Guild emoji (``/guilds/{id}/emojis``); their images are served at ``/emojis/<id>.<ext>``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field

from spectrus_api.deps import Ctx, CurrentActor, Reason, Store
from spectrus_api.images import image_from_data_uri
from spectrus_api.ratelimit import RateLimitedRoute, limit
from spectrus_api.uploads import staged
from spectrus_api.validation import Body, Snowflake, SnowflakePath, Text
from spectrus_domain import limits, views
from spectrus_domain.actions import emojis

router = APIRouter(route_class=RateLimitedRoute, tags=["emoji"])

Name = Annotated[str, Text(32, 2), Field(pattern=limits.EMOJI_NAME_PATTERN)]
Roles = Annotated[list[Snowflake], Field(max_length=limits.ROLES_PER_GUILD)]


class NewEmoji(Body):
    name: Name
    image: Annotated[str, Text(limits.EMOJI_IMAGE_MAX_BYTES * 2)]
    roles: Roles = Field(default_factory=list)


class EmojiPatch(Body):
    name: Name | None = None
    roles: Roles | None = None


@router.get("/guilds/{guild_id}/emojis")
async def list_emojis(
    guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> list[dict[str, Any]]:
    return await views.list_emojis(ctx, actor, guild_id)


@router.get("/guilds/{guild_id}/emojis/{emoji_id}")
async def get_emoji(
    guild_id: SnowflakePath, emoji_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await views.get_emoji(ctx, actor, guild_id, emoji_id)


@router.post("/guilds/{guild_id}/emojis", status_code=201)
@limit("emojis.create", 10, 60, major="guild_id")
async def create_emoji(
    guild_id: SnowflakePath,
    body: NewEmoji,
    actor: CurrentActor,
    ctx: Ctx,
    store: Store,
    reason: Reason,
) -> dict[str, Any]:
    image = image_from_data_uri("image", body.image, limits.EMOJI_IMAGE_MAX_BYTES)
    await views.require_may_create_emoji(ctx, actor, guild_id)
    emoji_id = ctx.ids.next()
    async with staged(ctx, store, [(emojis.file_key(emoji_id), image.data)]):
        return await emojis.create_emoji(
            ctx,
            actor,
            guild_id,
            body.name,
            emojis.EmojiImage(emoji_id, image.content_type, image.animated),
            body.roles,
            reason,
        )


@router.patch("/guilds/{guild_id}/emojis/{emoji_id}")
async def modify_emoji(
    guild_id: SnowflakePath,
    emoji_id: SnowflakePath,
    body: EmojiPatch,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return await emojis.modify_emoji(ctx, actor, guild_id, emoji_id, changes, reason)


@router.delete("/guilds/{guild_id}/emojis/{emoji_id}", status_code=204)
async def delete_emoji(
    guild_id: SnowflakePath, emoji_id: SnowflakePath, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> Response:
    await emojis.delete_emoji(ctx, actor, guild_id, emoji_id, reason)
    return Response(status_code=204)
