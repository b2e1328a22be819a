"""Locust users that behave like community members.

- ``RestMember``: reads channels and messages, posts messages (each with a unique nonce;
  the id the POST returns is recorded for the delivery accounting), reacts and edits.
- ``GatewayMember``: keeps a gateway session (IDENTIFY, heartbeats, RESUME after drops)
  and records every MESSAGE_CREATE; in a reconnect storm it drops and comes back together
  with everyone else on a shared beat.
- ``VoiceSpeaker`` / ``VoiceListener``: join a voice channel through the gateway and the
  media node's voice WebSocket; their audio is sent and received by one native voicegen
  process (see ``spectrus_load.voice``).

The classes are abstract; scenario files subclass them (locust runs what a locustfile
defines) and ``plan(users)`` says how many of each run. Gateway and voice connections are
greenlets of their own, not the user's: when locust stops the users at the end of the
window, the connections keep receiving through the drain until the driver closes them.
"""

from __future__ import annotations

import random
import time
from typing import ClassVar

import gevent
from locust import FastHttpUser, User, constant, constant_throughput, task
from locust.env import Environment

from spectrus_load.accounting import Interval, Post
from spectrus_load.gateway_ws import TEXT_INTENTS, VOICE_INTENTS, Fire, GatewaySession
from spectrus_load.plan import Account, Guild, spread
from spectrus_load.state import SHARED
from spectrus_load.voice import VoiceLink, VoiceSession, join_voice

THUMBS_UP = "%F0%9F%91%8D"  # 👍, URL-encoded as clients send it
RECENT = 20  # messages a member remembers to react to or edit


def fire_for(environment: Environment) -> Fire:
    """Report a non-HTTP step (a login, a delivery) to locust as a request."""

    def fire(kind: str, name: str, ms: float, exc: BaseException | None) -> None:
        environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type=kind,
            name=name,
            response_time=ms,
            response_length=0,
            exception=exc,
            context={},
        )

    return fire


class RestMember(FastHttpUser):
    """A member using the REST API: mostly reading and posting in its guild's channels."""

    abstract = True
    # Overridden per instance from the world (several api processes share the users).
    host = "http://127.0.0.1"

    def __init__(self, environment: Environment) -> None:
        plan, world = SHARED.require()
        self.index = SHARED.next_index(type(self).__name__)
        self.host = world.api_urls[self.index % len(world.api_urls)]
        super().__init__(environment)
        n_users = plan.counts.get(type(self).__name__, 1)
        self.account: Account = world.accounts[spread(self.index, n_users, len(world.accounts))]
        self.guild: Guild = world.guilds[self.account.guild]
        self.auth = {"Authorization": self.account.token}
        self.rng = random.Random(f"rest-{self.index}")  # noqa: S311 - load shape, not secrets
        self.mine: list[tuple[str, str]] = []  # (channel, message) this member posted
        self.seen: list[tuple[str, str]] = []  # (channel, message) read in channels
        self.sent = 0
        self._pace = constant_throughput(plan.rest_rate)

    def wait_time(self) -> float:
        # constant_throughput keeps its pacing state on the user it is called with.
        return float(self._pace(self))

    def on_start(self) -> None:
        SHARED.ready += 1

    def _channel(self) -> str:
        return self.rng.choice(self.guild.text_channels)

    @task(5)
    def post_message(self) -> None:
        if SHARED.stopping.is_set():
            return
        channel = self._channel()
        self.sent += 1
        nonce = f"{self.account.index}-{self.index}-{self.sent}"
        started = time.monotonic()
        with self.client.post(
            f"/api/v10/channels/{channel}/messages",
            json={"content": f"hello from {nonce}", "nonce": nonce},
            headers=self.auth,
            name="POST /channels/:id/messages",
            catch_response=True,
        ) as answer:
            if answer.status_code != 200 or answer.json().get("nonce") != nonce:
                answer.failure(f"{answer.status_code}: {answer.error or str(answer.text)[:200]}")
                return
            message = str(answer.json()["id"])
        SHARED.posts.append(Post(message, self.guild.id, started, time.monotonic()))
        self.mine = [*self.mine[-RECENT:], (channel, message)]

    @task(2)
    def read_messages(self) -> None:
        channel = self._channel()
        with self.client.get(
            f"/api/v10/channels/{channel}/messages?limit=50",
            headers=self.auth,
            name="GET /channels/:id/messages",
            catch_response=True,
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"{answer.status_code}: {answer.error or str(answer.text)[:200]}")
                return
            self.seen = [(channel, m["id"]) for m in answer.json()[:RECENT]]

    @task(1)
    def read_channels(self) -> None:
        self.client.get(
            f"/api/v10/guilds/{self.guild.id}/channels",
            headers=self.auth,
            name="GET /guilds/:id/channels",
        )

    @task(1)
    def react(self) -> None:
        if not self.seen:
            return
        channel, message = self.rng.choice(self.seen)
        self.client.put(
            f"/api/v10/channels/{channel}/messages/{message}/reactions/{THUMBS_UP}/@me",
            headers=self.auth,
            name="PUT /channels/:id/messages/:id/reactions/:emoji/@me",
        )

    @task(1)
    def edit(self) -> None:
        if not self.mine:
            return
        channel, message = self.rng.choice(self.mine)
        self.client.patch(
            f"/api/v10/channels/{channel}/messages/{message}",
            json={"content": f"edited at {time.time():.3f}"},
            headers=self.auth,
            name="PATCH /channels/:id/messages/:id",
        )


class GatewayMember(User):
    """A member's open client: one gateway session that receives its guild's events."""

    abstract = True
    wait_time = constant(1)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        plan, world = SHARED.require()
        self.plan = plan
        self.index = SHARED.next_index(type(self).__name__)
        n_users = plan.counts.get(type(self).__name__, 1)
        self.account = world.accounts[spread(self.index, n_users, len(world.accounts))]
        self.rng = random.Random(f"gateway-{self.index}")  # noqa: S311 - load shape
        # A load balancer in front of the gateways: each client lands on one of them.
        urls = world.gateway_urls[self.index % len(world.gateway_urls) :]
        urls += world.gateway_urls[: self.index % len(world.gateway_urls)]
        self.session = GatewaySession(
            urls,
            self.account.token,
            self.account.index,
            TEXT_INTENTS,
            fire_for(environment),
            self.rng,
            self._record,
        )

    @staticmethod
    def _record(interval: Interval) -> None:
        SHARED.intervals.append(interval)

    def on_start(self) -> None:
        self.session.start()
        SHARED.sessions.append(self.session)
        SHARED.ready += 1

    @task
    def stay_connected(self) -> None:
        """Receiving happens in the session's greenlets; in a storm, drop on the beat."""
        every = self.plan.storm_every
        if not every or not SHARED.steady_at:
            SHARED.stopping.wait(1.0)
            return
        beats = int((time.monotonic() - SHARED.steady_at) / every) + 1
        until = SHARED.steady_at + beats * every
        if SHARED.stopping.wait(max(until - time.monotonic(), 0)):
            return  # the window is over: no storm during the drain
        reidentify = self.rng.random() < self.plan.reidentify
        try:
            self.session.bounce(reidentify=reidentify)
        except (Exception, gevent.Timeout) as exc:
            fire_for(self.environment)("WS", "storm reconnect", 0.0, exc)


class VoiceMember(User):
    """A member in a voice channel; ``role`` says whether it speaks."""

    abstract = True
    wait_time = constant(1)
    role: ClassVar[str] = "listener"
    voice_sessions: ClassVar[list[VoiceSession]] = []
    links: ClassVar[list[VoiceLink]] = []

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        plan, world = SHARED.require()
        self.plan = plan
        self.world = world
        self.index = SHARED.next_index(type(self).__name__)
        rooms = [c for g in world.guilds for c in g.voice_channels]
        self.room = rooms[self.index % plan.voice_rooms]
        self.guild = next(g for g in world.guilds if self.room in g.voice_channels)
        # Voice members use accounts of the room's guild, speakers first, then listeners:
        # a member can be in one voice channel per guild only.
        per_room = plan.speakers_per_room + plan.listeners_per_room
        slot = self.index // plan.voice_rooms + (
            0 if self.role == "speaker" else plan.speakers_per_room
        )
        rooms_in_guild = self.guild.voice_channels.index(self.room)
        member = self.guild.members[(rooms_in_guild * per_room + slot) % len(self.guild.members)]
        self.account = world.accounts[member]
        self.rng = random.Random(f"voice-{self.role}-{self.index}")  # noqa: S311
        self.session = GatewaySession(
            world.gateway_urls,
            self.account.token,
            self.account.index,
            VOICE_INTENTS,
            fire_for(environment),
            self.rng,
            lambda _interval: None,  # voice members do not receive messages
        )

    def on_start(self) -> None:
        self.session.start()
        voice, link = join_voice(
            self.session,
            self.guild.id,
            self.room,
            self.account.user_id,
            self.role,
            self.world.media_ca,
            fire_for(self.environment),
        )
        VoiceMember.voice_sessions.append(voice)
        VoiceMember.links.append(link)
        SHARED.sessions.append(self.session)
        SHARED.ready += 1

    @task
    def stay(self) -> None:
        SHARED.stopping.wait(1.0)


class VoiceSpeaker(VoiceMember):
    abstract = True
    role: ClassVar[str] = "speaker"


class VoiceListener(VoiceMember):
    abstract = True
    role: ClassVar[str] = "listener"
