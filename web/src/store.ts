/**
 * Client state: everything READY and GUILD_CREATE give (guilds, channels, roles,
 * members, voice states, read state), message pages fetched per channel, typing, and
 * the offline queue's pending messages.
 *
 * One mutable store with a change signal: gateway events apply here in arrival order and
 * views re-render on the next animation frame. Objects a view keys its memoization on
 * (messages, channel lists) are replaced, never mutated, when they change.
 */
import { compareIds } from "./ids";
import { ALL, channelPermissions, guildPermissions } from "./permissions";
import type { GatewayStatus } from "./gateway";
import {
  CHANNEL_CATEGORY,
  type Channel,
  type Emoji,
  type Guild,
  type Member,
  type Message,
  type Presence,
  type Reaction,
  type Ready,
  type Role,
  type User,
  type VoiceState,
} from "./types";

export interface GuildState {
  guild: Guild;
  channels: Channel[]; // sorted by position, categories included
  roles: Map<string, Role>;
  members: Map<string, Member>;
  voice: Map<string, VoiceState>; // by user id
}

export interface ChannelMessages {
  /** Oldest first. */
  list: Message[];
  /** False once a page came back short: the channel's beginning is loaded. */
  hasMore: boolean;
  loading: boolean;
  /** A page was fetched since the current session started (else: show, then refresh). */
  fresh: boolean;
}

export type PendingState = "queued" | "sending" | "failed";

export interface PendingMessage {
  nonce: string;
  channelId: string;
  content: string;
  files: File[];
  createdAt: number;
  state: PendingState;
  /** The message this one answers, and whether its author is pinged. */
  replyTo?: string;
  mentionReply?: boolean;
  error?: string;
}

export interface Toast {
  id: number;
  text: string;
}

export class Store {
  me: User | null = null;
  status: GatewayStatus = "connecting";
  guilds = new Map<string, GuildState>();
  guildOrder: string[] = [];
  privateChannels = new Map<string, Channel>();
  messages = new Map<string, ChannelMessages>();
  /** channel id -> user id -> when their indicator lapses (ms). */
  typing = new Map<string, Map<string, number>>();
  readState = new Map<string, { lastRead: string | null; mentions: number }>();
  presences = new Map<string, string>();
  pending: PendingMessage[] = [];
  toasts: Toast[] = [];
  /** True once READY arrived at least once: the shell can render. */
  ready = false;
  /** Where a newly created guild should be opened once its GUILD_CREATE arrives. */
  openOnCreate: string | null = null;
  /** Bumped per channel on CHANNEL_PINS_UPDATE: an open pins list refetches. */
  pinsVersion = new Map<string, number>();
  /** A message to bring into view and flash (replies' "jump", search, pins). */
  highlight: { channelId: string; id: string; at: number } | null = null;
  /** One's own chosen status (kept across reloads; sent with IDENTIFY). */
  myStatus: string = loadStatus();

  private listeners = new Set<() => void>();
  private scheduled = false;
  version = 0;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Batch notifications to one per frame: a burst of events costs one render. */
  changed(): void {
    this.version++;
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      for (const listener of [...this.listeners]) listener();
    };
    if (typeof requestAnimationFrame === "function" && document.visibilityState === "visible") {
      requestAnimationFrame(flush);
    } else setTimeout(flush, 0);
  }

  toast(text: string): void {
    const id = Date.now() + Math.random();
    this.toasts = [...this.toasts, { id, text }];
    this.changed();
    setTimeout(() => {
      this.toasts = this.toasts.filter((t) => t.id !== id);
      this.changed();
    }, 5000);
  }

  reset(): void {
    this.me = null;
    this.guilds.clear();
    this.guildOrder = [];
    this.privateChannels.clear();
    this.messages.clear();
    this.typing.clear();
    this.readState.clear();
    this.presences.clear();
    this.pending = [];
    this.ready = false;
    this.changed();
  }

  // --- lookups ----------------------------------------------------------------------------

  channel(id: string): Channel | undefined {
    const dm = this.privateChannels.get(id);
    if (dm) return dm;
    for (const g of this.guilds.values()) {
      const found = g.channels.find((c) => c.id === id);
      if (found) return found;
    }
    return undefined;
  }

  guildOf(channelId: string): GuildState | undefined {
    for (const g of this.guilds.values()) {
      if (g.channels.some((c) => c.id === channelId)) return g;
    }
    return undefined;
  }

  displayName(user: User, guildId?: string): string {
    const member = guildId ? this.guilds.get(guildId)?.members.get(user.id) : undefined;
    return member?.nick || user.global_name || user.username;
  }

  /** Colour of a member's highest coloured role, as Discord shows names. */
  roleColor(guildId: string | undefined, userId: string): string | null {
    if (!guildId) return null;
    const g = this.guilds.get(guildId);
    const member = g?.members.get(userId);
    if (!g || !member) return null;
    let best: Role | null = null;
    for (const id of member.roles) {
      const role = g.roles.get(id);
      if (role && role.color && (!best || role.position > best.position)) best = role;
    }
    return best ? `#${best.color.toString(16).padStart(6, "0")}` : null;
  }

  /** My permissions in a guild, or in one of its channels. */
  permissions(guildId: string | undefined, channelId?: string): bigint {
    const me = this.me?.id;
    const g = guildId ? this.guilds.get(guildId) : undefined;
    if (!g || !me) return channelId && !guildId ? ALL : 0n; // DMs: the server decides
    const member = g.members.get(me);
    const base = guildPermissions(g.guild, g.roles, member, me);
    const channel = channelId ? g.channels.find((c) => c.id === channelId) : undefined;
    return channel ? channelPermissions(base, channel, g.guild.id, member, me) : base;
  }

  /** A user's status as the member list shows it (one's own from the connection). */
  presenceOf(userId: string): string {
    if (userId === this.me?.id) {
      if (this.status !== "ready") return "offline";
      return this.myStatus === "invisible" ? "offline" : this.myStatus;
    }
    const s = this.presences.get(userId);
    return !s || s === "invisible" ? "offline" : s;
  }

  isUnread(channel: Channel): boolean {
    const last = channel.last_message_id;
    if (!last) return false;
    const read = this.readState.get(channel.id)?.lastRead;
    return !read || compareIds(last, read) > 0;
  }

  mentionCount(channelId: string): number {
    return this.readState.get(channelId)?.mentions ?? 0;
  }

  // --- gateway events -----------------------------------------------------------------------

  apply(event: string, data: unknown): void {
    const handler = (this as unknown as Record<string, (d: unknown) => void>)[`on_${event}`];
    if (typeof handler === "function") {
      handler.call(this, data);
      this.changed();
    }
  }

  on_READY(d: Ready): void {
    this.me = d.user;
    this.guilds.clear();
    this.guildOrder = d.guilds.map((g) => g.id);
    this.privateChannels = new Map(d.private_channels.map((c) => [c.id, c]));
    this.readState.clear();
    for (const entry of d.read_state?.entries ?? []) {
      this.readState.set(entry.id, {
        lastRead: entry.last_message_id,
        mentions: entry.mention_count,
      });
    }
    // Pages fetched in the old session may have missed events: show them, then refresh.
    for (const [id, page] of this.messages) this.messages.set(id, { ...page, fresh: false });
    this.ready = true;
  }

  on_GUILD_CREATE(g: Guild): void {
    if (g.unavailable) return;
    const state: GuildState = {
      guild: g,
      channels: sortChannels(
        (g.channels ?? []).map((c) => ({ ...c, guild_id: g.id })),
      ),
      roles: new Map(g.roles.map((r) => [r.id, r])),
      members: new Map((g.members ?? []).filter((m) => m.user).map((m) => [m.user!.id, m])),
      voice: new Map((g.voice_states ?? []).map((v) => [v.user_id, { ...v, guild_id: g.id }])),
    };
    for (const p of g.presences ?? []) this.presences.set(p.user.id, p.status);
    this.guilds.set(g.id, state);
    if (!this.guildOrder.includes(g.id)) this.guildOrder = [...this.guildOrder, g.id];
  }

  on_GUILD_UPDATE(g: Guild): void {
    const state = this.guilds.get(g.id);
    if (state) state.guild = { ...state.guild, ...g };
  }

  on_GUILD_DELETE(d: { id: string }): void {
    const state = this.guilds.get(d.id);
    this.guilds.delete(d.id);
    this.guildOrder = this.guildOrder.filter((id) => id !== d.id);
    for (const c of state?.channels ?? []) this.messages.delete(c.id);
  }

  on_CHANNEL_CREATE(c: Channel): void {
    if (!c.guild_id) {
      this.privateChannels.set(c.id, c);
      return;
    }
    const state = this.guilds.get(c.guild_id);
    if (state) state.channels = sortChannels([...state.channels.filter((x) => x.id !== c.id), c]);
  }

  on_CHANNEL_UPDATE(c: Channel): void {
    this.on_CHANNEL_CREATE(c);
  }

  on_CHANNEL_DELETE(c: Channel): void {
    if (!c.guild_id) this.privateChannels.delete(c.id);
    const state = c.guild_id ? this.guilds.get(c.guild_id) : undefined;
    if (state) state.channels = state.channels.filter((x) => x.id !== c.id);
    this.messages.delete(c.id);
  }

  on_GUILD_ROLE_CREATE(d: { guild_id: string; role: Role }): void {
    this.guilds.get(d.guild_id)?.roles.set(d.role.id, d.role);
  }
  on_GUILD_ROLE_UPDATE(d: { guild_id: string; role: Role }): void {
    this.on_GUILD_ROLE_CREATE(d);
  }
  on_GUILD_ROLE_DELETE(d: { guild_id: string; role_id: string }): void {
    this.guilds.get(d.guild_id)?.roles.delete(d.role_id);
  }

  on_GUILD_MEMBER_ADD(d: Member & { guild_id: string }): void {
    const state = this.guilds.get(d.guild_id);
    if (state && d.user) {
      state.members = new Map(state.members).set(d.user.id, d);
      if (state.guild.member_count !== undefined) state.guild.member_count++;
    }
  }
  on_GUILD_MEMBER_UPDATE(d: Member & { guild_id: string; user: User }): void {
    const state = this.guilds.get(d.guild_id);
    if (state) {
      const old = state.members.get(d.user.id);
      state.members = new Map(state.members).set(d.user.id, { ...old, ...d });
    }
  }
  on_GUILD_MEMBER_REMOVE(d: { guild_id: string; user: User }): void {
    const state = this.guilds.get(d.guild_id);
    if (state) {
      state.members = new Map(state.members);
      state.members.delete(d.user.id);
    }
  }
  on_GUILD_MEMBERS_CHUNK(d: { guild_id: string; members: Member[] }): void {
    const state = this.guilds.get(d.guild_id);
    if (!state) return;
    state.members = new Map(state.members);
    for (const m of d.members) if (m.user) state.members.set(m.user.id, m);
  }
  on_GUILD_EMOJIS_UPDATE(d: { guild_id: string; emojis: Emoji[] }): void {
    const state = this.guilds.get(d.guild_id);
    if (state) state.guild = { ...state.guild, emojis: d.emojis };
  }

  on_PRESENCE_UPDATE(d: Presence): void {
    this.presences.set(d.user.id, d.status);
  }

  on_CHANNEL_PINS_UPDATE(d: { channel_id: string }): void {
    this.pinsVersion.set(d.channel_id, (this.pinsVersion.get(d.channel_id) ?? 0) + 1);
  }

  on_GUILD_BAN_ADD(d: { guild_id: string; user: User }): void {
    this.on_GUILD_MEMBER_REMOVE(d);
  }

  on_VOICE_STATE_UPDATE(v: VoiceState): void {
    const state = v.guild_id ? this.guilds.get(v.guild_id) : undefined;
    if (!state) return;
    state.voice = new Map(state.voice);
    if (v.channel_id) state.voice.set(v.user_id, v);
    else state.voice.delete(v.user_id);
  }

  on_MESSAGE_CREATE(m: Message): void {
    const page = this.messages.get(m.channel_id);
    if (page) this.setPage(m.channel_id, { ...page, list: insertMessage(page.list, m) });
    if (m.nonce !== undefined && m.nonce !== null && m.author.id === this.me?.id) {
      this.pending = this.pending.filter((p) => p.nonce !== String(m.nonce));
    }
    const channel = this.channel(m.channel_id);
    if (channel && (!channel.last_message_id || compareIds(m.id, channel.last_message_id) > 0)) {
      this.replaceChannel({ ...channel, last_message_id: m.id });
    }
    if (m.author.id === this.me?.id) {
      this.readState.set(m.channel_id, { lastRead: m.id, mentions: 0 });
    } else if (
      m.mentions.some((u) => u.id === this.me?.id) ||
      m.mention_everyone ||
      channel?.type === 1
    ) {
      const rs = this.readState.get(m.channel_id) ?? { lastRead: null, mentions: 0 };
      this.readState.set(m.channel_id, { ...rs, mentions: rs.mentions + 1 });
    }
    this.typing.get(m.channel_id)?.delete(m.author.id);
  }

  on_MESSAGE_UPDATE(m: Partial<Message> & { id: string; channel_id: string }): void {
    this.updateMessage(m.channel_id, m.id, (old) => ({ ...old, ...m }));
  }

  on_MESSAGE_DELETE(d: { id: string; channel_id: string }): void {
    const page = this.messages.get(d.channel_id);
    if (page) this.setPage(d.channel_id, { ...page, list: page.list.filter((m) => m.id !== d.id) });
  }

  on_MESSAGE_DELETE_BULK(d: { ids: string[]; channel_id: string }): void {
    const gone = new Set(d.ids);
    const page = this.messages.get(d.channel_id);
    if (page) this.setPage(d.channel_id, { ...page, list: page.list.filter((m) => !gone.has(m.id)) });
  }

  on_MESSAGE_REACTION_ADD(d: ReactionEvent): void {
    const mine = d.user_id === this.me?.id;
    this.updateMessage(d.channel_id, d.message_id, (m) => {
      const reactions = [...(m.reactions ?? [])];
      const i = reactions.findIndex((r) => sameEmoji(r.emoji, d.emoji));
      const old = i >= 0 ? reactions[i]! : { count: 0, me: false, emoji: d.emoji };
      if (mine && old.me) return m; // already counted (our own request's answer raced it)
      const next: Reaction = { ...old, count: old.count + 1, me: old.me || mine };
      if (i >= 0) reactions[i] = next;
      else reactions.push(next);
      return { ...m, reactions };
    });
  }

  on_MESSAGE_REACTION_REMOVE(d: ReactionEvent): void {
    const mine = d.user_id === this.me?.id;
    this.updateMessage(d.channel_id, d.message_id, (m) => {
      const reactions: Reaction[] = [];
      for (const r of m.reactions ?? []) {
        if (!sameEmoji(r.emoji, d.emoji)) reactions.push(r);
        else if (mine && !r.me) reactions.push(r);
        else if (r.count > 1) reactions.push({ ...r, count: r.count - 1, me: mine ? false : r.me });
      }
      return { ...m, reactions };
    });
  }

  on_MESSAGE_REACTION_REMOVE_ALL(d: { channel_id: string; message_id: string }): void {
    this.updateMessage(d.channel_id, d.message_id, (m) => ({ ...m, reactions: [] }));
  }

  on_MESSAGE_REACTION_REMOVE_EMOJI(d: ReactionEvent): void {
    this.updateMessage(d.channel_id, d.message_id, (m) => ({
      ...m,
      reactions: (m.reactions ?? []).filter((r) => !sameEmoji(r.emoji, d.emoji)),
    }));
  }

  on_MESSAGE_ACK(d: { channel_id: string; message_id: string }): void {
    this.readState.set(d.channel_id, { lastRead: d.message_id, mentions: 0 });
  }

  on_TYPING_START(d: { channel_id: string; user_id: string }): void {
    if (d.user_id === this.me?.id) return;
    const map = new Map(this.typing.get(d.channel_id) ?? []);
    map.set(d.user_id, Date.now() + 10_000);
    this.typing.set(d.channel_id, map);
    setTimeout(() => this.changed(), 10_100); // let the indicator lapse
  }

  on_USER_UPDATE(u: User): void {
    if (this.me && u.id === this.me.id) this.me = { ...this.me, ...u };
  }

  // --- messages -----------------------------------------------------------------------------

  setPage(channelId: string, page: ChannelMessages): void {
    this.messages.set(channelId, page);
  }

  /** Merge a fetched page (any order) into the channel's list. */
  mergeMessages(channelId: string, fetched: Message[], hasMore: boolean | null): void {
    const page = this.messages.get(channelId) ?? {
      list: [],
      hasMore: true,
      loading: false,
      fresh: false,
    };
    let list = page.list;
    for (const m of fetched) list = insertMessage(list, m);
    this.setPage(channelId, {
      list,
      hasMore: hasMore === null ? page.hasMore : hasMore,
      loading: false,
      fresh: true,
    });
    this.changed();
  }

  updateMessage(channelId: string, id: string, change: (m: Message) => Message): void {
    const page = this.messages.get(channelId);
    if (!page) return;
    const i = page.list.findIndex((m) => m.id === id);
    if (i < 0) return;
    const list = [...page.list];
    list[i] = change(list[i]!);
    this.setPage(channelId, { ...page, list });
  }

  private replaceChannel(channel: Channel): void {
    if (!channel.guild_id) {
      this.privateChannels.set(channel.id, channel);
      return;
    }
    const state = this.guilds.get(channel.guild_id);
    if (state) state.channels = state.channels.map((c) => (c.id === channel.id ? channel : c));
  }

  typingIn(channelId: string): string[] {
    const now = Date.now();
    const map = this.typing.get(channelId);
    if (!map) return [];
    return [...map].filter(([, until]) => until > now).map(([id]) => id);
  }
}

interface ReactionEvent {
  user_id: string;
  channel_id: string;
  message_id: string;
  emoji: Emoji;
}

export function sameEmoji(a: Emoji, b: Emoji): boolean {
  return a.id ? a.id === b.id : a.name === b.name;
}

/** Insert or replace by id, keeping the list sorted oldest first. */
export function insertMessage(list: Message[], m: Message): Message[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareIds(list[mid]!.id, m.id) < 0) lo = mid + 1;
    else hi = mid;
  }
  const next = [...list];
  if (list[lo]?.id === m.id) {
    // Keep what the newer copy lacks (gateway copies carry member, REST ones reactions).
    next[lo] = { ...list[lo]!, ...m, reactions: m.reactions ?? list[lo]!.reactions };
  } else next.splice(lo, 0, m);
  return next;
}

/** Discord's order: categories by position, each followed by its children by position;
 * channels without a category first. Text-like channels sort before voice ones. */
export function sortChannels(channels: Channel[]): Channel[] {
  const byPos = (a: Channel, b: Channel) =>
    (a.position ?? 0) - (b.position ?? 0) || compareIds(a.id, b.id);
  const voiceLast = (a: Channel, b: Channel) =>
    Number(a.type === 2) - Number(b.type === 2) || byPos(a, b);
  const categories = channels.filter((c) => c.type === CHANNEL_CATEGORY).sort(byPos);
  const known = new Set(categories.map((c) => c.id));
  const loose = channels
    .filter((c) => c.type !== CHANNEL_CATEGORY && !(c.parent_id && known.has(c.parent_id)))
    .sort(voiceLast);
  const out = [...loose];
  for (const category of categories) {
    out.push(category);
    out.push(...channels.filter((c) => c.parent_id === category.id).sort(voiceLast));
  }
  return out;
}

function loadStatus(): string {
  try {
    const saved = localStorage.getItem("spectrus.status");
    return saved && ["online", "idle", "dnd", "invisible"].includes(saved) ? saved : "online";
  } catch {
    return "online";
  }
}

export const store = new Store();
