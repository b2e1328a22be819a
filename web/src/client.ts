/**
 * What the views call: signing in and out, the gateway's life, loading message pages,
 * and the actions a person takes (send, edit, delete, react, create guild, invite).
 *
 * "Instant" is done here: READY and GUILD_CREATE bring every guild's channels and
 * members, and after the first channel renders the last-viewed channel of every other
 * guild is fetched in the background, so switching guilds shows messages at once.
 */
import { api } from "./api";
import { Gateway } from "./gateway";
import { flush, restore } from "./outbox";
import { store } from "./store";
import {
  CHANNEL_DM,
  CHANNEL_TEXT,
  type Channel,
  type Guild,
  type Invite,
  type Message,
  type SearchResult,
  type TokenPair,
} from "./types";

export const PAGE = 50;
let gateway: Gateway | null = null;
const LAST_CHANNEL = "spectrus.lastChannel";

export function currentGateway(): Gateway | null {
  return gateway;
}

type DispatchListener = (event: string, data: unknown) => void;
const dispatchListeners: DispatchListener[] = [];

/** Modules with state of their own (voice) hear every gateway event after the store. */
export function addDispatchListener(listener: DispatchListener): () => void {
  dispatchListeners.push(listener);
  return () => {
    const i = dispatchListeners.indexOf(listener);
    if (i >= 0) dispatchListeners.splice(i, 1);
  };
}

export async function signIn(
  mode: "login" | "register",
  username: string,
  password: string,
): Promise<void> {
  performance.mark("spectrus:login");
  const pair = await api.post<TokenPair>(
    `/auth/${mode}`,
    { username, password },
    { anonymous: true },
  );
  api.setAuth(pair);
  await startSession();
}

export async function signOut(): Promise<void> {
  try {
    await api.post("/auth/logout");
  } catch {
    // Signed out locally either way; the token expires on its own.
  }
  endSession();
}

export function endSession(): void {
  for (const listener of [...dispatchListeners]) listener("SPECTRUS_SESSION_END", null);
  gateway?.stop();
  gateway = null;
  api.setAuth(null);
  store.reset();
}

let starting: Promise<void> | null = null;

/** Connect the gateway for the signed-in user; concurrent calls share one start. */
export function startSession(): Promise<void> {
  if (gateway || !api.token) return Promise.resolve();
  starting ??= openGateway().finally(() => {
    starting = null;
  });
  return starting;
}

async function openGateway(): Promise<void> {
  let url = "/gateway";
  try {
    url = (await api.get<{ url: string }>("/gateway")).url;
  } catch {
    // Offline at start: the same-origin default is right for `spectrus up`.
  }
  gateway = new Gateway(url, () => api.token, {
    dispatch(event, data) {
      store.apply(event, data);
      if (event === "READY") restore();
      if (event === "GUILD_CREATE") onGuildCreate(data as Guild);
      for (const listener of [...dispatchListeners]) listener(event, data);
    },
    status(status) {
      store.status = status;
      store.changed();
      if (status === "ready") {
        void flush();
        void refreshOpenChannel();
      }
    },
    fatal(code) {
      store.toast(`The gateway refused this client (close code ${code}). Reload to retry.`);
    },
    authFailed() {
      // The session token may just have expired: a REST call swaps it with the refresh
      // token (or signs out when that fails too), then the gateway starts over.
      gateway?.stop();
      gateway = null;
      api.get("/users/@me").then(
        () => void startSession(),
        () => endSession(),
      );
    },
  }, store.myStatus);
  gateway.start();
}

api.onLoggedOut = () => endSession();

function onGuildCreate(g: Guild): void {
  if (store.openOnCreate === g.id) {
    store.openOnCreate = null;
    navigateTo(`/channels/${g.id}/${defaultChannel(g.id) ?? ""}`);
  }
}

// --- navigation ---------------------------------------------------------------------------

export function navigateTo(path: string, replace = false, state: unknown = null): void {
  if (location.pathname === path) return;
  if (replace) history.replaceState(state, "", path);
  else history.pushState(state, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function rememberChannel(guildId: string, channelId: string): void {
  try {
    const saved = JSON.parse(localStorage.getItem(LAST_CHANNEL) ?? "{}") as Record<string, string>;
    saved[guildId] = channelId;
    localStorage.setItem(LAST_CHANNEL, JSON.stringify(saved));
  } catch {
    // Not remembering is harmless.
  }
}

/** The channel a guild opens on: the last one viewed, else its first text channel. */
export function defaultChannel(guildId: string): string | null {
  const g = store.guilds.get(guildId);
  if (!g) return null;
  let saved: Record<string, string> = {};
  try {
    saved = JSON.parse(localStorage.getItem(LAST_CHANNEL) ?? "{}") as Record<string, string>;
  } catch {
    saved = {};
  }
  const remembered = saved[guildId];
  if (remembered && g.channels.some((c) => c.id === remembered && c.type === CHANNEL_TEXT)) {
    return remembered;
  }
  const system = g.guild.system_channel_id;
  if (system && g.channels.some((c) => c.id === system)) return system;
  return g.channels.find((c) => c.type === CHANNEL_TEXT)?.id ?? null;
}

// --- messages -----------------------------------------------------------------------------

const inflight = new Map<string, Promise<void>>();

/** The newest page of a channel, unless a fresh one is held already. */
export function loadLatest(channelId: string, force = false): Promise<void> {
  const page = store.messages.get(channelId);
  if (page?.fresh && !force) return Promise.resolve();
  const key = `latest:${channelId}`;
  const running = inflight.get(key);
  if (running) return running;
  const job = (async () => {
    try {
      const list = await api.get<Message[]>(`/channels/${channelId}/messages?limit=${PAGE}`);
      const had = store.messages.get(channelId);
      // A gap between the cached messages and this page cannot be bridged: start over.
      const oldestNew = list[list.length - 1]?.id;
      const bridges = !had || !oldestNew || had.list.some((m) => m.id === oldestNew);
      if (had && !bridges) store.messages.delete(channelId);
      store.mergeMessages(channelId, list, had && bridges ? null : list.length === PAGE);
    } catch (error) {
      store.toast(`Could not load messages: ${String(error)}`);
    } finally {
      inflight.delete(key);
    }
  })();
  inflight.set(key, job);
  return job;
}

/** The page before the oldest message held (scrolling up). */
export function loadOlder(channelId: string): Promise<void> {
  const key = `older:${channelId}`;
  const running = inflight.get(key);
  if (running) return running;
  const page = store.messages.get(channelId);
  if (!page || !page.hasMore || page.loading) return Promise.resolve();
  const oldest = page.list[0]?.id;
  if (!oldest) return loadLatest(channelId, true);
  store.setPage(channelId, { ...page, loading: true });
  store.changed();
  const job = (async () => {
    try {
      const list = await api.get<Message[]>(
        `/channels/${channelId}/messages?before=${oldest}&limit=${PAGE}`,
      );
      store.mergeMessages(channelId, list, list.length === PAGE);
    } catch (error) {
      const now = store.messages.get(channelId);
      if (now) store.setPage(channelId, { ...now, loading: false });
      store.toast(`Could not load older messages: ${String(error)}`);
    } finally {
      inflight.delete(key);
    }
  })();
  inflight.set(key, job);
  return job;
}

let openChannel: string | null = null;

export function setOpenChannel(channelId: string | null): void {
  openChannel = channelId;
}

async function refreshOpenChannel(): Promise<void> {
  if (openChannel) await loadLatest(openChannel);
}

let prefetched = false;

/** After the first channel is on screen: warm every guild's default channel, two at a time. */
export function prefetchGuilds(): void {
  if (prefetched) return;
  prefetched = true;
  const queue = store.guildOrder.map((g) => defaultChannel(g)).filter((c): c is string => !!c);
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await loadLatest(next);
  };
  setTimeout(() => void Promise.all([worker(), worker()]), 300);
}

const acked = new Map<string, string>();

/** Mark a channel read up to its newest message (once per message). */
export function ack(channelId: string): void {
  const channel = store.channel(channelId);
  const last = channel?.last_message_id;
  if (!last || acked.get(channelId) === last || !store.isUnread(channel)) return;
  acked.set(channelId, last);
  store.readState.set(channelId, { lastRead: last, mentions: 0 });
  store.changed();
  api.post(`/channels/${channelId}/messages/${last}/ack`).catch(() => {
    acked.delete(channelId);
  });
}

let lastTyping = 0;

/** Tell others we type, at most every 8 s (Discord's indicator lasts 10 s). */
export function typing(channelId: string): void {
  const now = Date.now();
  if (now - lastTyping < 8000 || store.status !== "ready") return;
  lastTyping = now;
  api.post(`/channels/${channelId}/typing`).catch(() => {});
}

export function resetTyping(): void {
  lastTyping = 0;
}

export async function editMessage(m: Message, content: string): Promise<void> {
  const updated = await api.patch<Message>(`/channels/${m.channel_id}/messages/${m.id}`, {
    content,
  });
  store.apply("MESSAGE_UPDATE", updated);
}

export async function deleteMessage(m: Message): Promise<void> {
  await api.delete(`/channels/${m.channel_id}/messages/${m.id}`);
  store.apply("MESSAGE_DELETE", { id: m.id, channel_id: m.channel_id });
}

export function emojiParam(emoji: { id: string | null; name: string | null }): string {
  return encodeURIComponent(emoji.id ? `${emoji.name}:${emoji.id}` : (emoji.name ?? ""));
}

export async function toggleReaction(
  m: Message,
  emoji: { id: string | null; name: string | null },
  mine: boolean,
): Promise<void> {
  const path = `/channels/${m.channel_id}/messages/${m.id}/reactions/${emojiParam(emoji)}/@me`;
  if (mine) await api.delete(path);
  else await api.put(path);
}

export async function createGuild(name: string): Promise<void> {
  const g = await api.post<Guild>("/guilds", { name });
  if (store.guilds.has(g.id)) navigateTo(`/channels/${g.id}/${defaultChannel(g.id) ?? ""}`);
  else store.openOnCreate = g.id; // its GUILD_CREATE opens it
}

export async function createInvite(channelId: string): Promise<Invite> {
  return api.post<Invite>(`/channels/${channelId}/invites`, { max_age: 7 * 86400, max_uses: 0 });
}

export async function getInvite(code: string): Promise<Invite> {
  return api.get<Invite>(`/invites/${encodeURIComponent(code)}?with_counts=true`, {
    anonymous: true,
  });
}

export async function acceptInvite(code: string): Promise<void> {
  const invite = await api.post<Invite & { guild_id?: string }>(
    `/invites/${encodeURIComponent(code)}`,
  );
  const guildId = invite.guild?.id ?? invite.guild_id;
  if (!guildId) return;
  const channelId = invite.channel?.id ?? "";
  if (store.guilds.has(guildId)) navigateTo(`/channels/${guildId}/${channelId}`, true);
  else {
    rememberChannel(guildId, channelId);
    store.openOnCreate = guildId;
  }
}

/** Open (or start) the direct conversation with `userId`. */
export async function openDm(userId: string): Promise<void> {
  for (const c of store.privateChannels.values()) {
    if (c.type === CHANNEL_DM && c.recipients?.some((u) => u.id === userId)) {
      navigateTo(`/channels/@me/${c.id}`);
      return;
    }
  }
  const channel = await api.post<Channel>("/users/@me/channels", { recipient_id: userId });
  store.apply("CHANNEL_CREATE", channel);
  navigateTo(`/channels/@me/${channel.id}`);
}

/** What a channel is called where it is shown: "#name", or the people of a DM. */
export function channelTitle(channel: Channel): string {
  if (channel.guild_id || channel.type === CHANNEL_TEXT) return `#${channel.name ?? ""}`;
  const names = (channel.recipients ?? []).map((u) => u.global_name || u.username);
  return channel.name || names.join(", ") || "Direct message";
}

/** Attachment and media URLs of this instance, made relative so they load from the
 * origin the page came from whatever public URL the server was configured with. */
export function localUrl(url: string): string {
  try {
    const parsed = new URL(url, location.href);
    if (/^\/(attachments|media|emojis)\//.test(parsed.pathname)) {
      return parsed.pathname + parsed.search;
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

// --- presence, pins, search, jumping to a message --------------------------------------------

/** One's own status: told to the gateway now and kept for the next sessions. */
export function setStatus(status: string): void {
  store.myStatus = status;
  try {
    localStorage.setItem("spectrus.status", status);
  } catch {
    // Kept for this page only.
  }
  gateway?.presence(status);
  store.changed();
}

export async function setPinned(m: Message, pinned: boolean): Promise<void> {
  const path = `/channels/${m.channel_id}/pins/${m.id}`;
  if (pinned) await api.put(path);
  else await api.delete(path);
  store.updateMessage(m.channel_id, m.id, (old) => ({ ...old, pinned }));
  store.changed();
}

export function getPins(channelId: string): Promise<Message[]> {
  return api.get<Message[]>(`/channels/${channelId}/pins`);
}

export function searchGuild(guildId: string, content: string, offset = 0): Promise<SearchResult> {
  const query = new URLSearchParams({ content, offset: String(offset), limit: "25" });
  return api.get<SearchResult>(`/guilds/${guildId}/messages/search?${query}`);
}

const MAX_JUMP_PAGES = 20;

/** Open a message's channel and bring the message into view, loading history back to it
 * when it is older than what is held (at most MAX_JUMP_PAGES pages: further back, a
 * toast says so instead of fetching a thousand messages). */
export async function jumpTo(channelId: string, messageId: string): Promise<void> {
  const channel = store.channel(channelId);
  if (!channel) {
    store.toast("That channel is not available to you.");
    return;
  }
  const path = channel.guild_id ? `/channels/${channel.guild_id}/${channelId}` : `/channels/@me/${channelId}`;
  navigateTo(path);
  await loadLatest(channelId);
  for (let i = 0; ; i++) {
    const page = store.messages.get(channelId);
    if (page?.list.some((m) => m.id === messageId)) break;
    if (!page || !page.hasMore || i >= MAX_JUMP_PAGES) {
      store.toast(page?.hasMore ? "That message is too far back to jump to." : "That message was deleted.");
      return;
    }
    await loadOlder(channelId);
  }
  store.highlight = { channelId, id: messageId, at: Date.now() };
  store.changed();
}
