"""A real discord.py voice client, run as its own process by the voice tests.

    bot.py speak  BASE TOKEN CHANNEL_ID PCM_FILE   joins, plays the PCM, leaves
    bot.py listen BASE TOKEN CHANNEL_ID OUT_FILE   joins with discord-ext-voice-recv,
        decodes what others say until the first speaker leaves, writes their PCM

Each prints ``joined`` once connected to voice, then one JSON line of results. Its own
process, because voice clients trust our certificate only through ``SSL_CERT_FILE``,
which aiohttp reads when it is imported.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from pathlib import Path

import discord
import yarl
from discord.ext import voice_recv


def point_at(base: str) -> None:
    discord.http.Route.BASE = f"{base}/api/v10"
    host = base.split("://", 1)[1]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://{host}/gateway")


async def speak(
    client: discord.Client, channel: discord.VoiceChannel, pcm: Path
) -> dict[str, object]:
    vc = await channel.connect()
    print("joined", flush=True)
    finished = asyncio.Event()
    loop = asyncio.get_running_loop()
    vc.play(
        discord.PCMAudio(io.BytesIO(pcm.read_bytes())),
        after=lambda _e: loop.call_soon_threadsafe(finished.set),
    )
    await finished.wait()
    await vc.disconnect()
    return {"mode": vc.mode, "ssrc": vc.ssrc}


async def listen(
    client: discord.Client, channel: discord.VoiceChannel, out: Path
) -> dict[str, object]:
    received: dict[int, bytearray] = {}
    speaker_left = asyncio.Event()

    ssrcs: set[int] = set()

    def on_audio(user: discord.abc.User | None, data: voice_recv.VoiceData) -> None:
        if user is not None and data.pcm:
            ssrcs.add(data.packet.ssrc)
            received.setdefault(user.id, bytearray()).extend(data.pcm)

    vc = await channel.connect(cls=voice_recv.VoiceRecvClient)

    @client.event
    async def on_voice_member_disconnect(_member: discord.Member | None, ssrc: int | None) -> None:
        # By SSRC: the member may have left discord.py's cache with their voice state.
        if ssrc in ssrcs:
            speaker_left.set()

    vc.listen(voice_recv.BasicSink(on_audio))
    print("joined", flush=True)
    await speaker_left.wait()
    await vc.disconnect()
    ((user_id, pcm),) = received.items()
    out.write_bytes(bytes(pcm))
    return {"mode": vc.mode, "from": str(user_id), "bytes": len(pcm)}


async def main(action: str, base: str, token: str, channel_id: int, path: Path) -> None:
    point_at(base)
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.5)
    result: dict[str, object] = {}

    @client.event
    async def on_ready() -> None:
        channel = client.get_channel(channel_id)
        assert isinstance(channel, discord.VoiceChannel), channel
        try:
            result.update(await (speak if action == "speak" else listen)(client, channel, path))
        finally:
            await client.close()

    await client.start(token)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    action, base, token, channel, path = sys.argv[1:6]
    asyncio.run(main(action, base, token, int(channel), Path(path)))
