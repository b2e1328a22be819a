"""A voice evening: several voice rooms, each with two speakers and six listeners, and a
little text beside them. Every voice member joins through the gateway and the media node's
voice WebSocket; one native voicegen process sends the speakers' audio (50 packets/s each)
and opens what every listener receives. ``users`` is the number of people in voice
(rounded up to whole rooms of eight)."""

from __future__ import annotations

from spectrus_load.plan import Plan, Shape
from spectrus_load.users import GatewayMember, RestMember, VoiceListener, VoiceSpeaker

SPEAKERS, LISTENERS = 2, 6


class Speaker(VoiceSpeaker):
    pass


class Listener(VoiceListener):
    pass


class Online(GatewayMember):
    pass


class Texter(RestMember):
    pass


def plan(users: int) -> Plan:
    per_room = SPEAKERS + LISTENERS
    rooms = max(1, -(-users // per_room))
    members = rooms * per_room
    return Plan(
        scenario="voice_evening",
        shape=Shape(guilds=1, members_per_guild=members, text_channels=1, voice_channels=rooms),
        counts={
            "Speaker": rooms * SPEAKERS,
            "Listener": rooms * LISTENERS,
            # Some of the same people have the text client open, and a few type.
            "Online": max(2, members // 2),
            "Texter": max(1, rooms),
        },
        rest_rate=0.5,
        voice_rooms=rooms,
        speakers_per_room=SPEAKERS,
        listeners_per_room=LISTENERS,
    )
