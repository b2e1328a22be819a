"""A gateway v10 client for the locust process: gevent greenlets over websocket-client.

One ``GatewaySession`` is one member's logical session: IDENTIFY, heartbeats on the
server's interval (the first after a random fraction of it, as Discord clients do), a
reader that records dispatches, and recovery: when a connection drops without being asked
to, it RESUMEs on a gateway picked from the list (any pod can resume any session) and,
when the resume is refused, identifies again. Each READY starts a new accounting
``Interval``; a successful RESUME continues the current one.

Drops are aborts (no close frame), as a network failure or a killed pod looks to the
server, so the session stays resumable. Every login step is reported to locust through
``fire`` so its latency and failures are in the results table.
"""

from __future__ import annotations

import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
import orjson
import websocket
from gevent.event import AsyncResult

from spectrus_load.accounting import Interval

# What a community member's client subscribes to (no presences or typing: they add
# events nobody accounts for, and cost both sides CPU).
GUILDS, VOICE_STATES, MESSAGES, REACTIONS, CONTENT = 1, 1 << 7, 1 << 9, 1 << 10, 1 << 15
TEXT_INTENTS = GUILDS | MESSAGES | REACTIONS | CONTENT
VOICE_INTENTS = GUILDS | VOICE_STATES
DISCORD_EPOCH_MS = 1_420_070_400_000
LOGIN_TIMEOUT = 60.0

# fire(request_type, name, response_time_ms, exception or None)
Fire = Callable[[str, str, float, BaseException | None], None]


class LoginError(Exception):
    """The gateway answered a login with a refusal, or not at all."""


class ConnectionLost(Exception):  # noqa: N818 - what happened, not a fault of ours
    """The transport failed during a login (a pod died, a connection was cut): clients
    retry with backoff, and only giving up counts as a failure."""


# Retried during logins; anything else (a timeout, a close code from the gateway) fails.
TRANSPORT = (ConnectionLost, OSError, websocket.WebSocketException)
MAX_RETRIES = 6


# Gateways that refused a connection: a load balancer stops routing to a dead pod, so
# clients skip it too (shared by every client in the process, like the balancer's view).
DOWN: set[str] = set()


def abort(ws: websocket.WebSocket) -> None:
    """Shut the socket down (wakes a greenlet blocked reading it) without a close frame."""
    ws.abort()  # type: ignore[no-untyped-call]  # websocket-client's is unannotated


def snowflake_ms(snowflake: str) -> int:
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


class GatewaySession:
    def __init__(
        self,
        urls: list[str],
        token: str,
        account: int,
        intents: int,
        fire: Fire,
        rng: random.Random,
        on_interval: Callable[[Interval], None],
    ) -> None:
        self.urls = urls
        self.token = token
        self.account = account
        self.intents = intents
        self.fire = fire
        self.rng = rng
        self.on_interval = on_interval
        self.session_id = ""
        self.seq = 0
        self.interval: Interval | None = None
        self.events: Counter[str] = Counter()
        self.resumes = 0
        self.identifies = 0
        self.drops = 0
        self.retries = 0  # logins retried after their connection was lost
        self.closed = False  # closed for good: no recovery
        self.deliveries = 0
        self.dispatch_waiters: dict[str, AsyncResult[Any]] = {}
        self._ws: websocket.WebSocket | None = None
        self._greenlets: list[gevent.Greenlet[Any, Any]] = []
        self._login: AsyncResult[bool] | None = None
        self._busy = False  # a bounce or recovery is under way: the reader must not start one
        self.url = ""

    # --- public -----------------------------------------------------------------------

    def start(self) -> None:
        """The first IDENTIFY (retried like any login whose connection is lost)."""
        self._busy = True
        try:
            self._reconnect(reidentify=True)
        finally:
            self._busy = False

    def identify(self, url: str | None = None) -> None:
        """Connect and IDENTIFY; returns at READY (a new accounting interval)."""
        started = time.monotonic()
        try:
            self._open(url or self.rng.choice(self.urls))
            self._login = AsyncResult()
            self._send(
                {
                    "op": 2,
                    "d": {
                        "token": self.token,
                        "intents": self.intents,
                        "properties": {"os": "linux", "browser": "locust", "device": "locust"},
                    },
                }
            )
            self._login.get(timeout=LOGIN_TIMEOUT)
        except TRANSPORT:
            raise  # retried by _reconnect
        except (Exception, gevent.Timeout) as exc:
            if not self.closed:
                self.fire("WS", "IDENTIFY -> READY", _ms(started), exc)
            raise
        self.identifies += 1
        self.fire("WS", "IDENTIFY -> READY", _ms(started), None)

    def resume(self, url: str | None = None) -> bool:
        """Connect and RESUME; True at RESUMED, False if the gateway refused (op 9)."""
        started = time.monotonic()
        try:
            self._open(url or self.rng.choice(self.urls))
            self._login = AsyncResult()
            self._send(
                {
                    "op": 6,
                    "d": {"token": self.token, "session_id": self.session_id, "seq": self.seq},
                }
            )
            resumed = bool(self._login.get(timeout=LOGIN_TIMEOUT))
        except TRANSPORT:
            raise  # retried by _reconnect
        except (Exception, gevent.Timeout) as exc:
            if not self.closed:
                self.fire("WS", "RESUME -> RESUMED", _ms(started), exc)
            raise
        if resumed:
            self.resumes += 1
            self.fire("WS", "RESUME -> RESUMED", _ms(started), None)
        return resumed

    def bounce(self, *, reidentify: bool) -> None:
        """Drop the connection without a close frame, as a network failure or a killed pod
        looks to the server, and come back at once (RESUME, or IDENTIFY again)."""
        if self._busy or self.closed:
            return  # a recovery is already under way: the storm caught this one dropped
        self._busy = True
        try:
            self.drops += 1
            if self._ws is not None:
                abort(self._ws)
            self._join_reader()
            self._reconnect(reidentify=reidentify)
        finally:
            self._busy = False

    def close(self) -> None:
        """End for good (the run is over): the open interval is complete."""
        self.closed = True
        if self.interval is not None:
            self.interval.complete = True
        if self._ws is not None:
            abort(self._ws)
        for g in self._greenlets:
            g.kill(block=False)

    def send(self, payload: dict[str, Any]) -> None:
        self._send(payload)

    def expect(self, event: str) -> AsyncResult[Any]:
        """A waiter for the next ``event`` dispatch: ask before sending what causes it."""
        waiter: AsyncResult[Any] = AsyncResult()
        self.dispatch_waiters[event] = waiter
        return waiter

    # --- connection -------------------------------------------------------------------

    def _open(self, first: str) -> None:
        """Connect to ``first``, or to the next gateway that is up when it refuses."""
        start = self.urls.index(first) if first in self.urls else 0
        order = [self.urls[(start + k) % len(self.urls)] for k in range(len(self.urls))]
        for url in [u for u in order if u not in DOWN] + [u for u in order if u in DOWN]:
            try:
                self._connect(url)
                return
            except ConnectionRefusedError:
                DOWN.add(url)
        raise ConnectionLost("every gateway refused the connection")

    def _connect(self, url: str) -> None:
        if self._ws is not None:
            abort(self._ws)  # e.g. after a refused RESUME the old connection is still open
        self._join_reader()
        self.url = url
        ws = websocket.create_connection(
            f"{url}?v=10&encoding=json",
            timeout=LOGIN_TIMEOUT,
            enable_multithread=True,  # the heartbeat greenlet sends while the reader reads
            skip_utf8_validation=True,  # orjson validates what we parse
            sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        hello = orjson.loads(ws.recv())
        if hello.get("op") != 10:
            abort(ws)
            raise LoginError(f"expected HELLO, got {hello}")
        ws.settimeout(None)
        self._ws = ws
        interval = hello["d"]["heartbeat_interval"] / 1000
        self._greenlets = [
            gevent.spawn(self._read, ws),
            gevent.spawn(self._heartbeat, ws, interval),
        ]

    def _join_reader(self) -> None:
        for g in self._greenlets:
            if g is not gevent.getcurrent():
                g.join(timeout=10)
                g.kill(block=False)
        self._greenlets = []

    def _send(self, payload: dict[str, Any]) -> None:
        assert self._ws is not None
        self._ws.send(orjson.dumps(payload).decode())

    def _heartbeat(self, ws: websocket.WebSocket, interval: float) -> None:
        gevent.sleep(interval * self.rng.random())
        while True:
            try:
                ws.send(orjson.dumps({"op": 1, "d": self.seq or None}).decode())
            except (OSError, websocket.WebSocketException):
                return  # the reader notices the dead connection and recovers
            gevent.sleep(interval)

    def _read(self, ws: websocket.WebSocket) -> None:
        why = "the connection dropped"
        refused: LoginError | None = None
        try:
            while True:
                opcode, frame = ws.recv_data_frame()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else 1005
                    why = f"the gateway closed with {code} {frame.data[2:].decode(errors='replace')!r}"
                    if code >= 4000:  # the gateway's own answer (e.g. 4004): not transport
                        refused = LoginError(why)
                    break
                self._handle(orjson.loads(frame.data))
        except (OSError, websocket.WebSocketException) as exc:
            why = f"the connection failed: {exc!r}"
        finally:
            ws.shutdown()  # type: ignore[no-untyped-call]
            if self._login is not None and not self._login.ready():
                lost = refused if refused is not None else ConnectionLost(f"during login, {why}")
                self._login.set_exception(lost)
            for g in self._greenlets:
                if g is not gevent.getcurrent():
                    g.kill(block=False)
            if not (self._busy or self.closed):
                gevent.spawn(self._recover)

    def _recover(self) -> None:
        """The connection dropped on its own (a killed pod, a slow-consumer cut, op 7)."""
        if self._busy or self.closed:
            return
        self._busy = True
        self.drops += 1
        try:
            gevent.sleep(self.rng.uniform(0.05, 0.5))  # clients do not all return at once
            self._reconnect(reidentify=False)
        except (Exception, gevent.Timeout) as exc:
            if not self.closed:  # closing at the end aborts a recovery; that is no failure
                self.fire("WS", "recover", 0.0, exc)
        finally:
            self._busy = False

    def _reconnect(self, *, reidentify: bool) -> None:
        """RESUME where we were (on any gateway, as a load balancer would pick), or IDENTIFY
        when asked to or refused, which ends the current accounting interval. A login whose
        connection is lost is retried with backoff, as clients do; so is a connection that
        died right after its login (no reader recovers it while we are busy)."""
        failures = 0
        while not self.closed:
            try:
                if reidentify or not self.resume():
                    if self.interval is not None:
                        self.interval.complete = False  # cut: recorded as interrupted
                    self.interval = None
                    reidentify = True  # until an IDENTIFY succeeds
                    self.identify()
            except TRANSPORT as exc:
                failures += 1
                self.retries += 1
                if failures > MAX_RETRIES:
                    self.fire("WS", "login (gave up retrying)", 0.0, exc)
                    raise
                gevent.sleep(min(0.2 * 2**failures, 5.0) * self.rng.uniform(0.5, 1.5))
                continue
            if any(not g.dead for g in self._greenlets):
                return
            reidentify = False

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == 0:
            self.seq = message["s"]
            event, data = message["t"], message["d"]
            self.events[event] += 1
            if event == "MESSAGE_CREATE":
                self._message(data)
            elif event == "READY":
                self._ready(data)
            elif event == "RESUMED" and self._login is not None:
                self._login.set(True)
            waiter = self.dispatch_waiters.get(event)
            if waiter is not None and not waiter.ready():
                waiter.set(data)
        elif op == 1:  # the server asks for a heartbeat now
            self._send({"op": 1, "d": self.seq or None})
        elif op == 7:  # reconnect requested: drop, and the reader's exit resumes
            if self._ws is not None:
                abort(self._ws)
        elif op == 9 and self._login is not None and not self._login.ready():
            self._login.set(False)

    def _ready(self, data: dict[str, Any]) -> None:
        self.session_id = data["session_id"]
        self.interval = Interval(
            account=self.account,
            session_id=self.session_id,
            guilds=[g["id"] for g in data["guilds"]],
            ready_at=time.monotonic(),
        )
        self.on_interval(self.interval)
        if self._login is not None:
            self._login.set(True)

    def _message(self, data: dict[str, Any]) -> None:
        if self.interval is not None:
            self.interval.received.append(data["id"])
            self.interval.seqs.append(self.seq)
        self.deliveries += 1
        latency = time.time() * 1000 - snowflake_ms(data["id"])
        self.fire("WS", "MESSAGE_CREATE delivered", max(latency, 0.0), None)


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
