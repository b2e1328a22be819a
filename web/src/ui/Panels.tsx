/**
 * The right-hand panels of a channel: the member list (grouped by hoisted role, then
 * online and offline, with presence dots and role colours), search results for the
 * guild, and the channel's pinned messages. Results jump to their message.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
import { getPins, jumpTo, openDm, searchGuild } from "../client";
import { colorHex } from "../permissions";
import { store, type GuildState } from "../store";
import type { Channel, Member, Message, Role } from "../types";
import { Markdown } from "./Markdown";
import { Avatar } from "./MessageView";
import { X } from "./icons";

const STATUS_LABEL: Record<string, string> = {
  online: "Online",
  idle: "Idle",
  dnd: "Do not disturb",
  offline: "Offline",
};

export function PresenceDot({ userId }: { userId: string }) {
  const status = store.presenceOf(userId);
  return <span class={`presence ${status}`} data-presence={status} title={STATUS_LABEL[status] ?? status} />;
}

function MemberRow({ m, g }: { m: Member; g: GuildState }) {
  const user = m.user!;
  const mine = user.id === store.me?.id;
  const color = store.roleColor(g.guild.id, user.id);
  const status = store.presenceOf(user.id);
  const name = store.displayName(user, g.guild.id);
  return (
    <li class={status === "offline" ? "offline" : "online"} data-presence={status}>
      <button
        type="button"
        class="member"
        data-user={user.id}
        disabled={mine}
        title={mine ? undefined : `Message ${user.username}`}
        aria-label={`${name}, ${STATUS_LABEL[status] ?? status}${mine ? "" : ": send a message"}`}
        onClick={() => openDm(user.id).catch((e) => store.toast(`Could not open the conversation: ${String(e)}`))}
      >
        <span class="presence-wrap">
          <Avatar user={user} size={28} />
          <PresenceDot userId={user.id} />
        </span>
        <span class="name" style={color ? { color } : undefined}>
          {name}
        </span>
        {user.bot ? <span class="tag">BOT</span> : null}
      </button>
    </li>
  );
}

export function MemberList({ g }: { g: GuildState }) {
  const members = [...g.members.values()].filter((m) => m.user);
  const byName = (a: Member, b: Member) =>
    store.displayName(a.user!, g.guild.id).localeCompare(store.displayName(b.user!, g.guild.id));
  members.sort(byName);
  // Discord's grouping: online members under their highest hoisted role, the other online
  // ones under "Online", everyone offline under "Offline".
  const hoisted = [...g.roles.values()].filter((r) => r.hoist && r.id !== g.guild.id).sort((a, b) => b.position - a.position);
  const groups = new Map<string, Member[]>();
  const offline: Member[] = [];
  for (const m of members) {
    if (store.presenceOf(m.user!.id) === "offline") {
      offline.push(m);
      continue;
    }
    const top = hoisted.find((r) => m.roles.includes(r.id));
    const key = top?.id ?? "online";
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  const sections: { key: string; title: string; role?: Role; list: Member[] }[] = [];
  for (const role of hoisted) {
    const list = groups.get(role.id);
    if (list?.length) sections.push({ key: role.id, title: role.name, role, list });
  }
  if (groups.get("online")?.length) sections.push({ key: "online", title: "Online", list: groups.get("online")! });
  if (offline.length) sections.push({ key: "offline", title: "Offline", list: offline });
  return (
    <aside class="members side-panel" aria-label="Members">
      {sections.map((s) => (
        <section key={s.key} data-group={s.key} aria-label={`${s.title}, ${s.list.length}`}>
          <h2>
            {s.role?.color ? <span class="role-dot" style={{ backgroundColor: colorHex(s.role.color) }} /> : null}
            {s.title} — {s.list.length}
          </h2>
          <ul>
            {s.list.map((m) => (
              <MemberRow key={m.user!.id} m={m} g={g} />
            ))}
          </ul>
        </section>
      ))}
    </aside>
  );
}

function ResultCard({ m, showChannel }: { m: Message; showChannel: boolean }) {
  const channel = store.channel(m.channel_id);
  const guildId = channel?.guild_id;
  const color = store.roleColor(guildId, m.author.id);
  return (
    <li class="result" data-id={m.id}>
      <button type="button" class="result-card" aria-label={`Jump to the message of ${m.author.username}`} onClick={() => void jumpTo(m.channel_id, m.id)}>
        {showChannel && channel ? <div class="result-channel">#{channel.name}</div> : null}
        <div class="result-head">
          <Avatar user={m.author} size={20} />
          <span class="author" style={color ? { color } : undefined}>
            {store.displayName(m.author, guildId)}
          </span>
          <time dateTime={m.timestamp}>{new Date(m.timestamp).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}</time>
        </div>
        <div class="result-body">
          {m.content ? <Markdown source={m.content} guildId={guildId} /> : null}
          {m.attachments.length ? <div class="muted">{m.attachments.map((a) => a.filename).join(", ")}</div> : null}
        </div>
      </button>
    </li>
  );
}

export function SearchPanel({ guildId, query, onClose }: { guildId: string; query: string; onClose: () => void }) {
  const [results, setResults] = useState<{ total: number; messages: Message[] } | null>(null);
  const [error, setError] = useState("");
  const [offset, setOffset] = useState(0);
  useEffect(() => {
    setOffset(0);
  }, [query, guildId]);
  useEffect(() => {
    let live = true;
    setError("");
    searchGuild(guildId, query, offset).then(
      (r) => {
        if (!live) return;
        // Each hit comes as a list (Discord once sent context around it): the hit is
        // the one marked, else the first.
        const messages = r.messages.map((group) => group.find((m) => (m as { hit?: boolean }).hit) ?? group[0]!);
        setResults({ total: r.total_results, messages: offset ? [...(results?.messages ?? []), ...messages] : messages });
      },
      (e) => live && setError(e instanceof ApiError ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [query, guildId, offset]);
  return (
    <aside class="side-panel search-panel" aria-label="Search results">
      <header class="panel-header">
        <h2>
          {results ? `${results.total} result${results.total === 1 ? "" : "s"}` : "Searching…"}
        </h2>
        <button type="button" class="icon-button" aria-label="Close search" onClick={onClose}>
          <X />
        </button>
      </header>
      {error ? <p class="error panel-note" role="alert">{error}</p> : null}
      {results && !results.total ? <p class="muted panel-note">Nothing found for “{query}”.</p> : null}
      <ul class="results">
        {results?.messages.map((m) => <ResultCard key={m.id} m={m} showChannel />)}
      </ul>
      {results && results.messages.length < results.total ? (
        <button type="button" class="link panel-more" onClick={() => setOffset(results.messages.length)}>
          More results
        </button>
      ) : null}
    </aside>
  );
}

export function PinsPanel({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const [pins, setPins] = useState<Message[] | null>(null);
  const [error, setError] = useState("");
  const version = store.pinsVersion.get(channel.id) ?? 0;
  useEffect(() => {
    let live = true;
    getPins(channel.id).then(
      (list) => live && setPins(list),
      (e) => live && setError(String(e)),
    );
    return () => {
      live = false;
    };
  }, [channel.id, version]);
  return (
    <aside class="side-panel pins-panel" aria-label="Pinned messages">
      <header class="panel-header">
        <h2>Pinned messages</h2>
        <button type="button" class="icon-button" aria-label="Close pinned messages" onClick={onClose}>
          <X />
        </button>
      </header>
      {error ? <p class="error panel-note" role="alert">{error}</p> : null}
      {pins && !pins.length ? <p class="muted panel-note">Nothing is pinned in this channel yet.</p> : null}
      {!pins && !error ? <p class="muted panel-note">Loading…</p> : null}
      <ul class="results">{pins?.map((m) => <ResultCard key={m.id} m={m} showChannel={false} />)}</ul>
    </aside>
  );
}
