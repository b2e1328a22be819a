"""Permission computation against Discord's documented algorithm.

``reference_*`` below transcribe the pseudo-code of Discord's "Permissions" topic
(compute_base_permissions / compute_overwrites) and its "Implicit Permissions" and
timeout rules, written plainly and independently of the production code; hypothesis
compares the two over random guilds, roles, overwrites and members.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from spectrus_domain.permissions import (
    ALL_PERMISSIONS,
    OVERWRITE_MEMBER,
    OVERWRITE_ROLE,
    MemberContext,
    Overwrite,
    Permission,
    base_permissions,
    channel_permissions,
)

P = Permission
GUILD_ID = 1000
ROLE_IDS = [2001, 2002, 2003, 2004, 2005]
USER_IDS = [3001, 3002, 3003]
SEND_DEPENDENT = (
    P.MENTION_EVERYONE
    | P.SEND_TTS_MESSAGES
    | P.ATTACH_FILES
    | P.EMBED_LINKS
    | P.SEND_POLLS
    | P.SEND_VOICE_MESSAGES
)


@dataclass
class World:
    owner_id: int
    everyone: int
    role_bits: dict[int, int]
    member_id: int
    member_roles: list[int]
    overwrites: list[Overwrite]
    timed_out: bool


def reference_base(w: World) -> int:
    if w.member_id == w.owner_id:
        return ALL_PERMISSIONS
    permissions = w.everyone
    for role in w.member_roles:
        permissions |= w.role_bits[role]
    if permissions & P.ADMINISTRATOR == P.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return permissions


def reference_overwrites(base: int, w: World) -> int:
    if base & P.ADMINISTRATOR == P.ADMINISTRATOR:
        return ALL_PERMISSIONS
    by_id = {ow.target_id: ow for ow in w.overwrites}
    permissions = base
    everyone = by_id.get(GUILD_ID)
    if everyone:
        permissions &= ~everyone.deny
        permissions |= everyone.allow
    allow = deny = 0
    for role_id in w.member_roles:
        ow = by_id.get(role_id)
        if ow:
            allow |= ow.allow
            deny |= ow.deny
    permissions &= ~deny
    permissions |= allow
    member = by_id.get(w.member_id)
    if member:
        permissions &= ~member.deny
        permissions |= member.allow
    return permissions


def reference_channel(w: World) -> int:
    base = reference_base(w)
    if base == ALL_PERMISSIONS:  # owner and administrators: no implicit rule applies
        return base
    permissions = reference_overwrites(base, w)
    if w.timed_out:  # timed-out members keep only viewing and reading history
        permissions &= P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY
    if not permissions & P.VIEW_CHANNEL:  # a hidden channel denies everything in it
        return 0
    if not permissions & P.SEND_MESSAGES:  # nothing that rides on sending
        permissions &= ~SEND_DEPENDENT
    return permissions


bits = st.integers(min_value=0, max_value=ALL_PERMISSIONS).map(lambda b: b & ALL_PERMISSIONS)
# Sparse bitfields make overlaps between allow, deny and roles frequent.
sparse_bits = st.lists(st.sampled_from(list(Permission)), max_size=6).map(
    lambda ps: sum(set(map(int, ps)))
)
any_bits = st.one_of(bits, sparse_bits)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    member_id = draw(st.sampled_from(USER_IDS))
    role_bits = {r: draw(any_bits) for r in ROLE_IDS}
    overwrites = []
    targets = draw(
        st.lists(st.sampled_from([GUILD_ID, *ROLE_IDS, *USER_IDS]), unique=True, max_size=8)
    )
    for target in targets:
        kind = OVERWRITE_MEMBER if target in USER_IDS else OVERWRITE_ROLE
        overwrites.append(Overwrite(target, kind, draw(any_bits), draw(any_bits)))
    return World(
        owner_id=draw(st.sampled_from([*USER_IDS, 9999])),
        everyone=draw(any_bits),
        role_bits=role_bits,
        member_id=member_id,
        member_roles=draw(st.lists(st.sampled_from(ROLE_IDS), unique=True, max_size=4)),
        overwrites=draw(st.permutations(overwrites)),
        timed_out=draw(st.booleans()),
    )


def production(w: World) -> tuple[int, int]:
    m = MemberContext(
        user_id=w.member_id,
        guild_id=GUILD_ID,
        owner_id=w.owner_id,
        everyone_permissions=w.everyone,
        role_permissions={r: w.role_bits[r] for r in w.member_roles},
        timed_out=w.timed_out,
    )
    return base_permissions(m), channel_permissions(m, w.overwrites)


@settings(max_examples=3000)
@given(worlds())
def test_channel_permissions_match_the_documented_algorithm(w: World) -> None:
    assert production(w)[1] == reference_channel(w)


@settings(max_examples=1000)
@given(worlds())
def test_guild_permissions_match_the_documented_algorithm(w: World) -> None:
    expected = reference_base(w)
    if w.timed_out and expected != ALL_PERMISSIONS:
        expected &= P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY
    assert production(w)[0] == expected


def _world(**kw: object) -> World:
    base = dict(
        owner_id=9999,
        everyone=int(P.VIEW_CHANNEL | P.SEND_MESSAGES),
        role_bits={r: 0 for r in ROLE_IDS},
        member_id=3001,
        member_roles=[2001, 2002],
        overwrites=[],
        timed_out=False,
    )
    base.update(kw)
    return World(**base)  # type: ignore[arg-type]


def test_member_overwrite_beats_role_overwrites() -> None:
    w = _world(
        overwrites=[
            Overwrite(2001, OVERWRITE_ROLE, int(P.SEND_MESSAGES), 0),
            Overwrite(3001, OVERWRITE_MEMBER, 0, int(P.SEND_MESSAGES)),
        ]
    )
    assert not production(w)[1] & P.SEND_MESSAGES


def test_an_allow_on_any_role_beats_a_deny_on_another() -> None:
    w = _world(
        overwrites=[
            Overwrite(2001, OVERWRITE_ROLE, 0, int(P.SEND_MESSAGES)),
            Overwrite(2002, OVERWRITE_ROLE, int(P.SEND_MESSAGES), 0),
        ]
    )
    assert production(w)[1] & P.SEND_MESSAGES


def test_role_overwrites_come_after_everyone_overwrite() -> None:
    w = _world(
        overwrites=[
            Overwrite(GUILD_ID, OVERWRITE_ROLE, 0, int(P.VIEW_CHANNEL)),
            Overwrite(2002, OVERWRITE_ROLE, int(P.VIEW_CHANNEL), 0),
        ]
    )
    assert production(w)[1] & P.VIEW_CHANNEL
    hidden = _world(overwrites=[Overwrite(GUILD_ID, OVERWRITE_ROLE, 0, int(P.VIEW_CHANNEL))])
    assert production(hidden)[1] == 0


def test_overwrites_for_roles_the_member_lacks_are_ignored() -> None:
    w = _world(
        member_roles=[2001],
        overwrites=[
            Overwrite(2005, OVERWRITE_ROLE, 0, int(P.VIEW_CHANNEL)),
            Overwrite(3002, OVERWRITE_MEMBER, 0, int(P.VIEW_CHANNEL)),
        ],
    )
    assert production(w)[1] & P.VIEW_CHANNEL


def test_administrator_and_owner_ignore_overwrites_and_timeouts() -> None:
    deny_all = [
        Overwrite(GUILD_ID, OVERWRITE_ROLE, 0, ALL_PERMISSIONS),
        Overwrite(3001, OVERWRITE_MEMBER, 0, ALL_PERMISSIONS),
    ]
    admin = _world(
        role_bits={**{r: 0 for r in ROLE_IDS}, 2001: int(P.ADMINISTRATOR)},
        overwrites=deny_all,
        timed_out=True,
    )
    assert production(admin) == (ALL_PERMISSIONS, ALL_PERMISSIONS)
    owner = _world(owner_id=3001, overwrites=deny_all, timed_out=True)
    assert production(owner) == (ALL_PERMISSIONS, ALL_PERMISSIONS)


def test_timed_out_member_can_only_read() -> None:
    w = _world(
        everyone=int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.ADD_REACTIONS),
        timed_out=True,
    )
    assert production(w)[1] == P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY


def test_no_send_means_no_mention_everyone_or_attachments() -> None:
    w = _world(everyone=int(P.VIEW_CHANNEL | P.MENTION_EVERYONE | P.ATTACH_FILES | P.ADD_REACTIONS))
    assert production(w)[1] == P.VIEW_CHANNEL | P.ADD_REACTIONS


def test_bit_values_are_discords() -> None:
    assert P.ADMINISTRATOR == 8 and P.VIEW_CHANNEL == 1024 and P.SEND_MESSAGES == 2048
    assert P.MODERATE_MEMBERS == 1 << 40 and P.PIN_MESSAGES == 1 << 51
