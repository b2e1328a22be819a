"""The connection state machine under random client behaviour, time and shell answers.

A rule-based hypothesis machine drives one ``Connection`` with arbitrary sequences of
frames (well-formed or not, in or out of order, oversized, bursts), time jumps and shell
replies, and checks after every step that the protocol's rules held for everything the
connection produced.
"""

from __future__ import annotations

import json

import orjson
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from spectrus_gateway.protocol.codes import Close, Op
from spectrus_gateway.protocol.connection import (
    HEARTBEAT_GRACE,
    MAX_FRAME_BYTES,
    RATE_LIMIT_FRAMES,
    RATE_LIMIT_WINDOW,
    CloseConnection,
    Connection,
    Identify,
    Resume,
    Send,
    State,
)

INTERVAL = 41.25
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


class ConnectionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.conn = Connection(now=self.now)
        self.outputs: list = []
        self.received: list[float] = []  # times of frames the client sent while open
        self.heartbeats_sent = 0
        self.closed_at_step: int | None = None
        self.step = 0
        self.last_heartbeat = self.now
        self.identified_requests = 0
        self._collect()

    def _collect(self) -> None:
        self.step += 1
        new = self.conn.take()
        for out in new:
            if isinstance(out, CloseConnection) and self.closed_at_step is None:
                self.closed_at_step = len(self.outputs)
            self.outputs.append(out)

    def _client(self, frame: str | bytes) -> None:
        if self.conn.state is not State.CLOSED:
            self.received.append(self.now)
        self.conn.receive(frame, self.now)
        self._collect()

    # --- client behaviour ------------------------------------------------------------

    @rule()
    def heartbeat(self) -> None:
        was_open = self.conn.state is not State.CLOSED
        before = len(self.outputs)
        self._client(orjson.dumps({"op": 1, "d": self.conn.seq or None}).decode())
        if was_open and self.conn.state is not State.CLOSED:
            acks = [
                o
                for o in self.outputs[before:]
                if isinstance(o, Send) and o.payload["op"] == Op.HEARTBEAT_ACK
            ]
            assert len(acks) == 1
            self.last_heartbeat = self.now

    @rule(
        intents=st.one_of(st.integers(min_value=0, max_value=(1 << 26) - 1), st.integers()),
        shard=st.one_of(st.just([0, 1]), st.sampled_from([[0, 2], [1, 1], "x"])),
    )
    def identify(self, intents: int, shard: object) -> None:
        state = self.conn.state
        self._client(
            json.dumps(
                {"op": 2, "d": {"token": "t", "intents": intents, "properties": {}, "shard": shard}}
            )
        )
        if state is State.AWAITING_IDENTIFY and self.conn.state is State.AUTHENTICATING:
            self.identified_requests += 1

    @rule(seq=st.integers(min_value=-3, max_value=50))
    def resume(self, seq: int) -> None:
        self._client(
            orjson.dumps({"op": 6, "d": {"token": "t", "session_id": "abc", "seq": seq}}).decode()
        )

    @rule(
        kind=st.sampled_from(["op", "garbage", "oversized"]),
        op=st.integers(min_value=-2, max_value=40),
        d=json_values,
        data=st.binary(max_size=64),
        extra=st.integers(min_value=1, max_value=3000),
    )
    def hostile(self, kind: str, op: int, d: object, data: bytes, extra: int) -> None:
        """Anything a broken or malicious client might send."""
        was_open = self.conn.state is not State.CLOSED
        if kind == "op":
            self._client(json.dumps({"op": op, "d": d}))  # stdlib: it writes any integer
        elif kind == "garbage":
            self._client(data)
        else:
            self._client('{"op": 1, "d": null, "x": "' + "a" * (MAX_FRAME_BYTES + extra) + '"}')
            if was_open:
                assert self.conn.state is State.CLOSED

    @rule(n=st.integers(min_value=1, max_value=130))
    def burst(self, n: int) -> None:
        for _ in range(n):
            self._client('{"op": 1, "d": null}')
            if self.conn.state is State.CLOSED:
                break
        self.last_heartbeat = self.now

    @rule(
        seconds=st.one_of(
            st.sampled_from([0.0, 1.0, 20.0, 30.0, 40.0, 41.25, 60.0, 61.875, 61.9, 90.0]),
            st.floats(min_value=0, max_value=120, allow_nan=False),
        )
    )
    def time_passes(self, seconds: float) -> None:
        was_open = self.conn.state is not State.CLOSED
        self.now += seconds
        self.conn.check(self.now)
        self._collect()
        if was_open and self.conn.state is State.CLOSED:
            # Only a client that stopped heartbeating is closed for it.
            assert self.outputs[-1].code == Close.SESSION_TIMED_OUT
            assert self.now > self.last_heartbeat + INTERVAL * (1 + HEARTBEAT_GRACE)

    # --- the shell's answers ---------------------------------------------------------

    @precondition(lambda self: self.conn.state is State.AUTHENTICATING)
    @rule(ok=st.booleans(), start=st.integers(min_value=0, max_value=20))
    def shell_answers(self, ok: bool, start: int) -> None:
        pending = [o for o in self.outputs if isinstance(o, Identify | Resume)][-1]
        if not ok:
            self.conn.fail(Close.AUTHENTICATION_FAILED)
        elif isinstance(pending, Identify):
            self.conn.ready("session")
            self.outputs.append("established")
            self.conn.dispatch("READY", {})
        else:
            self.conn.resumed("session", start)
            self.outputs.append("established")
            self.conn.dispatch("MESSAGE_CREATE", {})  # a replayed event
            self.conn.dispatch("RESUMED", {})
        self._collect()

    @precondition(lambda self: self.conn.state is State.AUTHENTICATING)
    @rule(resumable=st.booleans())
    def shell_invalidates(self, resumable: bool) -> None:
        self.conn.invalid_session(resumable)
        self._collect()

    @rule(n=st.integers(min_value=1, max_value=5))
    def events(self, n: int) -> None:
        for _ in range(n):
            self.conn.dispatch("MESSAGE_CREATE", {"content": "x"})
        self._collect()

    # --- the rules -------------------------------------------------------------------

    @invariant()
    def hello_comes_first(self) -> None:  # (markers the test adds are plain strings)
        first = self.outputs[0]
        assert isinstance(first, Send) and first.payload == {
            "op": 10,
            "d": {"heartbeat_interval": 41250},
            "s": None,
            "t": None,
        }

    @invariant()
    def nothing_after_close(self) -> None:
        real = [o for o in self.outputs if not isinstance(o, str)]
        closes = [i for i, o in enumerate(real) if isinstance(o, CloseConnection)]
        assert len(closes) <= 1
        if closes:
            assert closes[0] == len(real) - 1
            assert self.conn.state is State.CLOSED

    @invariant()
    def close_codes_are_discords(self) -> None:
        for o in self.outputs:
            if isinstance(o, CloseConnection):
                assert o.code in Close._value2member_map_

    @invariant()
    def dispatch_seqs_have_no_gaps(self) -> None:
        last = None
        for o in self.outputs:
            if isinstance(o, Identify | Resume):
                last = None  # a new attempt starts its own numbering (or the stored one)
            if isinstance(o, Send) and o.payload["op"] == Op.DISPATCH:
                s = o.payload["s"]
                if o.payload["t"] == "READY":
                    assert s == 1
                else:
                    assert last is None or s == last + 1
                last = s

    @invariant()
    def dispatch_only_when_established(self) -> None:
        # Every dispatch follows the shell's ready()/resumed() for the current attempt
        # (a resume replays missed events before RESUMED, as Discord does).
        established = False
        for o in self.outputs:
            if isinstance(o, Identify | Resume):
                established = False
            elif o == "established":
                established = True
            elif isinstance(o, Send) and o.payload["op"] == Op.DISPATCH:
                assert established

    @invariant()
    def at_most_one_identify_per_session(self) -> None:
        invalidations = sum(
            1 for o in self.outputs if isinstance(o, Send) and o.payload["op"] == Op.INVALID_SESSION
        )
        assert self.identified_requests <= invalidations + 1

    @invariant()
    def silent_clients_are_closed(self) -> None:
        if self.conn.state is not State.CLOSED:
            assert self.now <= self.last_heartbeat + INTERVAL * (1 + HEARTBEAT_GRACE) + 1e-6

    @invariant()
    def rate_limit_holds(self) -> None:
        # Frames accepted while open: never 121 of them inside one 60 s window.
        accepted = self.received if self.conn.state is not State.CLOSED else self.received[:-1]
        for i in range(len(accepted) - RATE_LIMIT_FRAMES):
            assert accepted[i + RATE_LIMIT_FRAMES] - accepted[i] >= RATE_LIMIT_WINDOW


TestConnection = ConnectionMachine.TestCase
TestConnection.settings = settings(max_examples=600, stateful_step_count=40, deadline=None)
