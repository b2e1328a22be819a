/**
 * The signed-in layout: guild rail, channel sidebar, chat, member list. At phone widths
 * one pane shows at a time and the rail and sidebar slide in as a drawer.
 *
 * Routes: /channels/<guild>/<channel>, /channels/@me (home: no guild yet), and the
 * settings' addresses (settingsRoute.ts), shown over the view they were opened from.
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import {
  ack,
  channelTitle,
  defaultChannel,
  loadLatest,
  navigateTo,
  prefetchGuilds,
  rememberChannel,
  setOpenChannel,
  setStatus,
} from "../client";
import { P, has } from "../permissions";
import { store, type GuildState } from "../store";
import { CHANNEL_CATEGORY, CHANNEL_TEXT, CHANNEL_VOICE, type Channel, type Message } from "../types";
import { compareIds } from "../ids";
import { Composer } from "./Composer";
import { CreateGuildDialog, InviteDialog } from "./Dialogs";
import { useMedia, useTheme, type ThemeChoice } from "./hooks";
import {
  Activity,
  Chevron,
  Gear,
  Hash,
  Menu,
  Monitor,
  Moon,
  Pin,
  Plus,
  Search,
  Speaker,
  Sun,
  UserPlus,
  Users,
} from "./icons";
import { lazyView } from "./lazy";
import { MessageList } from "./MessageList";
import { Avatar } from "./MessageView";
import { MemberList, PinsPanel, PresenceDot, SearchPanel } from "./Panels";
import type { Overlay } from "./settings/types";
import { overlayFromPath, overlayPath } from "./settingsRoute";
import { VoicePanel, VoiceUsers, joinVoice } from "./Voice";

/** Settings, administration and diagnostics: their own file, fetched when first opened. */
const SettingsOverlay = lazyView(() => import("./settings").then((m) => m.SettingsOverlay));

/** Anything the guild settings offer: owners, those with a managing permission, and
 * those who may set their own nickname (their server profile). */
const ADMIN_BITS = [
  P.CHANGE_NICKNAME,
  P.MANAGE_GUILD,
  P.MANAGE_ROLES,
  P.MANAGE_CHANNELS,
  P.KICK_MEMBERS,
  P.BAN_MEMBERS,
  P.MODERATE_MEMBERS,
  P.VIEW_AUDIT_LOG,
  P.MANAGE_GUILD_EXPRESSIONS,
];

export function canAdminister(guildId: string): boolean {
  const perms = store.permissions(guildId);
  return ADMIN_BITS.some((bit) => has(perms, bit));
}

/** Bit 0 of the user's flags (STAFF): the instance's admins, who may read /diag. */
export function isInstanceAdmin(): boolean {
  return ((store.me?.flags ?? 0) & 1) === 1;
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => [...w][0]!.toUpperCase())
    .join("");
}

function guildUnread(g: GuildState): boolean {
  return g.channels.some((c) => c.type === CHANNEL_TEXT && store.isUnread(c));
}

function guildMentions(g: GuildState): number {
  return g.channels.reduce((n, c) => n + store.mentionCount(c.id), 0);
}

function dmMentions(): number {
  let n = 0;
  for (const c of store.privateChannels.values()) n += store.mentionCount(c.id);
  return n;
}

function GuildRail({ active, home, onCreate }: { active: string | null; home: boolean; onCreate: () => void }) {
  const mentions = dmMentions();
  return (
    <nav class="rail" aria-label="Servers">
      <ul>
        <li class={home ? "active" : ""}>
          <a
            href="/channels/@me"
            class="guild-icon home"
            aria-label={`Direct messages${mentions ? `, ${mentions} unread` : ""}`}
            aria-current={home ? "page" : undefined}
            title="Direct messages"
            data-home="true"
            onClick={(e) => {
              e.preventDefault();
              navigateTo("/channels/@me");
            }}
          >
            <Users />
          </a>
          {mentions ? <span class="badge">{mentions > 99 ? "99+" : mentions}</span> : null}
        </li>
        <li class="rail-sep" aria-hidden="true" />
        {store.guildOrder.map((id) => {
          const g = store.guilds.get(id);
          if (!g) return null;
          const mentions = guildMentions(g);
          const unread = guildUnread(g);
          return (
            <li key={id} class={id === active ? "active" : unread ? "unread" : ""}>
              <a
                href={`/channels/${id}/${defaultChannel(id) ?? ""}`}
                class="guild-icon"
                aria-label={`${g.guild.name}${mentions ? `, ${mentions} mentions` : unread ? ", unread" : ""}`}
                aria-current={id === active ? "page" : undefined}
                title={g.guild.name}
                data-guild={id}
                onClick={(e) => {
                  e.preventDefault();
                  navigateTo(`/channels/${id}/${defaultChannel(id) ?? ""}`);
                }}
              >
                {initials(g.guild.name) || "?"}
              </a>
              {mentions ? <span class="badge">{mentions > 99 ? "99+" : mentions}</span> : null}
            </li>
          );
        })}
        <li>
          <button type="button" class="guild-icon add" aria-label="Create or join a server" title="Create or join a server" onClick={onCreate}>
            <Plus />
          </button>
        </li>
      </ul>
    </nav>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useTheme();
  const next: Record<ThemeChoice, ThemeChoice> = { system: "light", light: "dark", dark: "system" };
  const Icon = theme === "light" ? Sun : theme === "dark" ? Moon : Monitor;
  return (
    <button
      type="button"
      class="icon-button"
      aria-label={`Theme: ${theme}. Switch to ${next[theme]}`}
      title={`Theme: ${theme}`}
      data-theme-choice={theme}
      onClick={() => setTheme(next[theme])}
    >
      <Icon />
    </button>
  );
}

const STATUSES: { value: string; label: string }[] = [
  { value: "online", label: "Online" },
  { value: "idle", label: "Idle" },
  { value: "dnd", label: "Do not disturb" },
  { value: "invisible", label: "Invisible" },
];

function StatusMenu({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>("[aria-checked=true]")?.focus();
    const away = (e: MouseEvent) => !ref.current?.parentElement?.contains(e.target as Node) && onClose();
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, []);
  return (
    <div class="menu status-menu" role="menu" aria-label="Set your status" ref={ref} onKeyDown={(e) => e.key === "Escape" && onClose()}>
      {STATUSES.map((s) => (
        <button
          type="button"
          role="menuitemradio"
          aria-checked={store.myStatus === s.value}
          key={s.value}
          onClick={() => {
            setStatus(s.value);
            onClose();
          }}
        >
          <span class={`presence inline ${s.value === "invisible" ? "offline" : s.value}`} />
          {s.label}
        </button>
      ))}
    </div>
  );
}

function UserPanel({ openOverlay }: { openOverlay: (o: Overlay) => void }) {
  const [statusOpen, setStatusOpen] = useState(false);
  const me = store.me;
  if (!me) return null;
  const status = store.status;
  const chosen = STATUSES.find((s) => s.value === store.myStatus)?.label ?? "Online";
  return (
    <div class="user-panel">
      <div class="status-anchor">
        <button
          type="button"
          class="me-button"
          aria-label={`Status: ${chosen}. Change it`}
          aria-haspopup="menu"
          aria-expanded={statusOpen}
          onClick={() => setStatusOpen(!statusOpen)}
        >
          <span class="presence-wrap">
            <Avatar user={me} size={32} />
            <PresenceDot userId={me.id} />
          </span>
        </button>
        {statusOpen ? <StatusMenu onClose={() => setStatusOpen(false)} /> : null}
      </div>
      <div class="who">
        <div class="name">{me.global_name || me.username}</div>
        <div class={`conn ${status}`} role="status" data-status={status}>
          {status === "ready"
            ? store.myStatus === "online"
              ? "Online"
              : chosen
            : status === "offline"
              ? "Offline"
              : status === "reconnecting"
                ? "Reconnecting…"
                : "Connecting…"}
        </div>
      </div>
      {isInstanceAdmin() ? (
        <button
          type="button"
          class="icon-button"
          aria-label="Instance diagnostics"
          title="Instance diagnostics"
          onMouseEnter={SettingsOverlay.preload}
          onClick={() => openOverlay({ kind: "diag" })}
        >
          <Activity />
        </button>
      ) : null}
      <button
        type="button"
        class="icon-button"
        aria-label="User settings"
        title="User settings (voice, appearance)"
        onMouseEnter={SettingsOverlay.preload}
        onClick={() => openOverlay({ kind: "user" })}
      >
        <Gear />
      </button>
      <ThemeToggle />
    </div>
  );
}

function ChannelList({
  g,
  active,
  onPick,
  onInvite,
  openOverlay,
}: {
  g: GuildState;
  active: string | null;
  onPick: () => void;
  onInvite: () => void;
  openOverlay: (o: Overlay) => void;
}) {
  const admin = canAdminister(g.guild.id);
  const manageChannels = has(store.permissions(g.guild.id), P.MANAGE_CHANNELS) || has(store.permissions(g.guild.id), P.MANAGE_ROLES);
  const channelGear = (c: Channel) =>
    manageChannels ? (
      <button
        type="button"
        class="channel-gear"
        aria-label={`Edit channel ${c.name}`}
        title="Edit channel"
        onClick={(e) => {
          e.preventDefault();
          e.stopPropagation();
          openOverlay({ kind: "guild", guildId: g.guild.id, section: "channels", channelId: c.id });
        }}
      >
        <Gear size={15} />
      </button>
    ) : null;
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const toggle = (id: string) => {
    const next = new Set(collapsed);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setCollapsed(next);
  };
  let category: string | null = null;
  return (
    <nav class="channels" aria-label={`${g.guild.name} channels`}>
      <header class="guild-header">
        <h1 title={g.guild.name}>{g.guild.name}</h1>
        <button type="button" class="icon-button" aria-label="Invite people" title="Invite people" onClick={onInvite}>
          <UserPlus />
        </button>
        {admin ? (
          <button
            type="button"
            class="icon-button"
            aria-label="Server settings"
            title="Server settings"
            onMouseEnter={SettingsOverlay.preload}
            onClick={() => openOverlay({ kind: "guild", guildId: g.guild.id })}
          >
            <Gear />
          </button>
        ) : null}
      </header>
      <ul>
        {g.channels.map((c) => {
          if (c.type === CHANNEL_CATEGORY) {
            category = c.id;
            const open = !collapsed.has(c.id);
            return (
              <li key={c.id} class="category">
                <button type="button" aria-expanded={open} onClick={() => toggle(c.id)}>
                  <Chevron size={12} open={open} />
                  {c.name}
                </button>
              </li>
            );
          }
          const inCollapsed = c.parent_id && c.parent_id === category && collapsed.has(category);
          const isActive = c.id === active;
          if (inCollapsed && !isActive) return null;
          if (c.type === CHANNEL_VOICE) {
            return (
              <li key={c.id} class="channel voice" data-channel={c.id}>
                <div class="channel-row">
                  <button type="button" onClick={() => joinVoice(g.guild.id, c.id)} aria-label={`Voice channel ${c.name}, join`}>
                    <Speaker size={18} />
                    <span class="name">{c.name}</span>
                  </button>
                  {channelGear(c)}
                </div>
                <VoiceUsers g={g} channelId={c.id} />
              </li>
            );
          }
          if (c.type !== CHANNEL_TEXT) return null;
          const unread = store.isUnread(c);
          const mentions = store.mentionCount(c.id);
          return (
            <li key={c.id} class={`channel${isActive ? " active" : ""}${unread ? " unread" : ""}`}>
              <a
                href={`/channels/${g.guild.id}/${c.id}`}
                aria-current={isActive ? "page" : undefined}
                data-channel={c.id}
                onClick={(e) => {
                  e.preventDefault();
                  navigateTo(`/channels/${g.guild.id}/${c.id}`);
                  onPick();
                }}
              >
                <Hash size={18} />
                <span class="name">{c.name}</span>
                {mentions ? <span class="badge">{mentions}</span> : null}
                {channelGear(c)}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function TypingLine({ channel, guildId }: { channel: Channel; guildId: string | undefined }) {
  const ids = store.typingIn(channel.id);
  const g = guildId ? store.guilds.get(guildId) : undefined;
  const names = ids.map((id) => {
    const user = g?.members.get(id)?.user ?? channel.recipients?.find((u) => u.id === id);
    return user ? store.displayName(user, guildId) : "Someone";
  });
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  return (
    <div class="typing" aria-live="polite" data-typing={names.length}>
      {text ? (
        <>
          <span class="dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {text}
        </>
      ) : null}
    </div>
  );
}

let firstChannelMarked = false;

export type Panel = "members" | "pins" | "search" | null;

function SearchBox({ onSearch }: { onSearch: (query: string) => void }) {
  const [text, setText] = useState("");
  return (
    <form
      class="search-box"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) onSearch(text.trim());
      }}
    >
      <input
        type="search"
        value={text}
        placeholder="Search"
        aria-label="Search this server"
        onInput={(e) => setText(e.currentTarget.value)}
      />
      <Search size={16} />
    </form>
  );
}

function ChatPane({
  g,
  channel,
  onMenu,
  panel,
  setPanel,
  onSearch,
}: {
  g: GuildState | undefined;
  channel: Channel;
  onMenu: () => void;
  panel: Panel;
  setPanel: (panel: Panel) => void;
  onSearch: (query: string) => void;
}) {
  const [files, setFiles] = useState<File[]>([]);
  const [dragging, setDragging] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const depth = useRef(0);
  const page = store.messages.get(channel.id);
  const onReply = useCallback((m: Message) => setReplyTo(m), []);

  useEffect(() => {
    setOpenChannel(channel.id);
    if (g) rememberChannel(g.guild.id, channel.id);
    void loadLatest(channel.id);
    setFiles([]);
    setEditing(null);
    setReplyTo(null);
    return () => setOpenChannel(null);
  }, [channel.id]);

  // Read while looking at it: ack the newest message when it arrives or the tab returns.
  useEffect(() => {
    if (document.visibilityState === "visible" && page?.fresh) ack(channel.id);
  });
  useEffect(() => {
    const seen = () => document.visibilityState === "visible" && ack(channel.id);
    document.addEventListener("visibilitychange", seen);
    return () => document.removeEventListener("visibilitychange", seen);
  }, [channel.id]);

  useLayoutEffect(() => {
    if (!firstChannelMarked && page) {
      firstChannelMarked = true;
      performance.mark("spectrus:first-channel");
      prefetchGuilds();
    }
  });

  const editLast = () => {
    const list = store.messages.get(channel.id)?.list ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.author.id === store.me?.id) return setEditing(list[i]!.id);
    }
  };

  const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes("Files");
  return (
    <main
      class="chat"
      id="chat"
      onDragEnter={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        depth.current++;
        setDragging(true);
      }}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setDragging(false);
      }}
      onDrop={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        depth.current = 0;
        setDragging(false);
        const dropped = [...(e.dataTransfer?.files ?? [])];
        if (dropped.length) setFiles([...files, ...dropped].slice(0, 10));
      }}
    >
      <header class="chat-header">
        <button type="button" class="icon-button menu-button" aria-label="Open channels" onClick={onMenu}>
          <Menu />
        </button>
        {g ? <Hash size={20} /> : <span class="at" aria-hidden="true">@</span>}
        <h2 class="channel-name">{g ? channel.name : channelTitle(channel)}</h2>
        {channel.topic ? <span class="topic">{channel.topic}</span> : null}
        <span class="spacer" />
        <button
          type="button"
          class="icon-button"
          aria-label="Pinned messages"
          title="Pinned messages"
          aria-pressed={panel === "pins"}
          onClick={() => setPanel(panel === "pins" ? null : "pins")}
        >
          <Pin />
        </button>
        {g ? (
          <button
            type="button"
            class="icon-button members-button"
            aria-label={panel === "members" ? "Hide members" : "Show members"}
            aria-pressed={panel === "members"}
            onClick={() => setPanel(panel === "members" ? null : "members")}
          >
            <Users />
          </button>
        ) : null}
        {g ? <SearchBox onSearch={onSearch} /> : null}
      </header>
      <MessageList channel={channel} editing={editing} setEditing={setEditing} onReply={onReply} />
      <TypingLine channel={channel} guildId={g?.guild.id} />
      <Composer
        channel={channel}
        files={files}
        setFiles={setFiles}
        onEditLast={editLast}
        replyTo={replyTo}
        setReplyTo={setReplyTo}
      />
      {dragging ? (
        <div class="dropzone" aria-hidden="true">
          <div>
            Drop files to send to <strong>{channelTitle(channel)}</strong>
          </div>
        </div>
      ) : null}
    </main>
  );
}

function DmList({ active, onPick }: { active: string | null; onPick: () => void }) {
  const channels = [...store.privateChannels.values()].sort((a, b) =>
    compareIds(b.last_message_id ?? b.id, a.last_message_id ?? a.id),
  );
  return (
    <nav class="channels" aria-label="Direct messages">
      <header class="guild-header">
        <h1>Direct messages</h1>
      </header>
      <ul>
        {channels.length === 0 ? (
          <li class="muted empty-list">Nobody yet. Pick someone in a server's member list.</li>
        ) : null}
        {channels.map((c) => {
          const other = c.recipients?.[0];
          const mentions = store.mentionCount(c.id);
          return (
            <li key={c.id} class={`channel dm${c.id === active ? " active" : ""}${store.isUnread(c) ? " unread" : ""}`}>
              <a
                href={`/channels/@me/${c.id}`}
                aria-current={c.id === active ? "page" : undefined}
                data-channel={c.id}
                onClick={(e) => {
                  e.preventDefault();
                  navigateTo(`/channels/@me/${c.id}`);
                  onPick();
                }}
              >
                {other ? <Avatar user={other} size={24} /> : null}
                <span class="name">{channelTitle(c)}</span>
                {mentions ? <span class="badge">{mentions}</span> : null}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function Home({ onCreate, onMenu }: { onCreate: () => void; onMenu: () => void }) {
  return (
    <main class="chat home" id="chat">
      <header class="chat-header">
        <button type="button" class="icon-button menu-button" aria-label="Open channels" onClick={onMenu}>
          <Menu />
        </button>
        <h2>Welcome</h2>
      </header>
      <div class="empty">
        <h2>{store.guildOrder.length ? "Pick a server" : "You are not in a server yet"}</h2>
        <p>Create one for your group, or join with an invite link someone sent you.</p>
        <button type="button" class="primary" onClick={onCreate}>
          Create or join a server
        </button>
      </div>
    </main>
  );
}

function Connecting() {
  return (
    <div class="splash" role="status">
      <div class="logo">Spectrus</div>
      <p>{store.status === "offline" ? "You are offline." : "Connecting…"}</p>
    </div>
  );
}

/** The last address that was not a settings one: what /settings/... shows behind it. */
let lastMainPath: string | null = null;

/** What shows behind settings opened at `overlay` (a server's: that server). */
function backgroundPath(overlay: Overlay): string {
  if (overlay.kind === "guild") return `/channels/${overlay.guildId}/${defaultChannel(overlay.guildId) ?? ""}`;
  if (lastMainPath) return lastMainPath;
  const first = store.guildOrder.find((id) => store.guilds.has(id));
  return first ? `/channels/${first}/${defaultChannel(first) ?? ""}` : "/channels/@me";
}

export function Shell({ path: route }: { path: string }) {
  const narrow = useMedia("(max-width: 760px)");
  const wide = useMedia("(min-width: 1100px)");
  const [navOpen, setNavOpen] = useState(false);
  const [panel, setPanel] = useState<Panel>(wide ? "members" : null);
  const [query, setQuery] = useState("");
  const overlay = overlayFromPath(route);
  if (!overlay) lastMainPath = route;
  const path = overlay && store.ready ? backgroundPath(overlay) : route;
  const [creating, setCreating] = useState(false);
  const [inviting, setInviting] = useState(false);

  const parts = path.split("/").filter(Boolean); // ["channels", guild or "@me", channel]
  const home = parts[0] === "channels" && parts[1] === "@me";
  const guildId = parts[0] === "channels" && !home ? (parts[1] ?? null) : null;
  const g = guildId ? store.guilds.get(guildId) : undefined;
  let channelId = parts[2] ?? null;
  const channel = home
    ? store.privateChannels.get(channelId ?? "")
    : g?.channels.find((c) => c.id === channelId && c.type === CHANNEL_TEXT);

  // Land somewhere useful: the route's guild default channel, or the first guild.
  useEffect(() => {
    if (!store.ready || overlay) return;
    if (g && !channel) {
      const fallback = defaultChannel(g.guild.id);
      if (fallback) navigateTo(`/channels/${g.guild.id}/${fallback}`, true);
    } else if (!g && (guildId === null || !store.guildOrder.includes(guildId)) && store.guildOrder.length) {
      if (home) return;
      const first = store.guildOrder.find((id) => store.guilds.has(id));
      if (first) navigateTo(`/channels/${first}/${defaultChannel(first) ?? ""}`, true);
    }
  });

  // Keyboard: Alt+Up/Down moves between channels, Ctrl+Alt+Up/Down between servers. The
  // route is read when the key comes, not from this render (effects run after paint).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
      const step = e.key === "ArrowUp" ? -1 : 1;
      const [, , here, open] = location.pathname.split("/");
      const current = here ? store.guilds.get(here) : undefined;
      e.preventDefault();
      if (e.ctrlKey) {
        const ids = store.guildOrder.filter((id) => store.guilds.has(id));
        const next = ids[(ids.indexOf(here ?? "") + step + ids.length) % ids.length];
        if (next) navigateTo(`/channels/${next}/${defaultChannel(next) ?? ""}`);
      } else if (current) {
        const texts = current.channels.filter((c) => c.type === CHANNEL_TEXT);
        const next = texts[(texts.findIndex((c) => c.id === open) + step + texts.length) % texts.length];
        if (next) navigateTo(`/channels/${current.guild.id}/${next.id}`);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  if (!store.ready) return <Connecting />;
  if (!channel) channelId = null;
  const showNav = !narrow || navOpen;
  // Members need the room of a wide window; searches and pins show at any width.
  const shownPanel = panel === "members" && (narrow || !g) ? null : panel === "search" && !g ? null : panel;
  // Opening settings pushes their address (remembering it did, so closing goes back);
  // a section change replaces it, so Back closes the settings whatever section shows.
  const openOverlay = (o: Overlay) => {
    setNavOpen(false);
    navigateTo(overlayPath(o), false, { settings: true });
  };
  const changeOverlay = (o: Overlay) => navigateTo(overlayPath(o), true, history.state);
  const closeOverlay = () => {
    if ((history.state as { settings?: boolean } | null)?.settings) history.back();
    else navigateTo(path);
  };
  return (
    <div class={`shell${narrow ? " narrow" : ""}${navOpen ? " nav-open" : ""}`}>
      <a class="skip" href="#chat">
        Skip to chat
      </a>
      {showNav ? (
        <div class="nav" onKeyDown={(e) => e.key === "Escape" && setNavOpen(false)}>
          <GuildRail active={guildId} home={home} onCreate={() => setCreating(true)} />
          <div class="sidebar">
            {g ? (
              <ChannelList
                g={g}
                active={channelId}
                onPick={() => setNavOpen(false)}
                onInvite={() => setInviting(true)}
                openOverlay={openOverlay}
              />
            ) : (
              <DmList active={home ? channelId : null} onPick={() => setNavOpen(false)} />
            )}
            <VoicePanel openOverlay={openOverlay} />
            <UserPanel openOverlay={openOverlay} />
          </div>
        </div>
      ) : null}
      {narrow && navOpen ? <div class="scrim" onClick={() => setNavOpen(false)} aria-hidden="true" /> : null}
      {channel && (g || home) ? (
        <ChatPane
          g={g}
          channel={channel}
          onMenu={() => setNavOpen(true)}
          panel={shownPanel}
          setPanel={setPanel}
          onSearch={(q) => {
            setQuery(q);
            setPanel("search");
          }}
        />
      ) : (
        <Home onCreate={() => setCreating(true)} onMenu={() => setNavOpen(true)} />
      )}
      {channel && shownPanel === "members" && g ? <MemberList g={g} /> : null}
      {channel && shownPanel === "search" && g ? (
        <SearchPanel guildId={g.guild.id} query={query} onClose={() => setPanel(wide ? "members" : null)} />
      ) : null}
      {channel && shownPanel === "pins" ? (
        <PinsPanel channel={channel} onClose={() => setPanel(wide ? "members" : null)} />
      ) : null}
      {overlay ? <SettingsOverlay overlay={overlay} onChange={changeOverlay} onClose={closeOverlay} /> : null}
      {creating ? <CreateGuildDialog onClose={() => setCreating(false)} /> : null}
      {inviting && g && (channel ?? g.channels.find((c) => c.type === CHANNEL_TEXT)) ? (
        <InviteDialog channel={(channel ?? g.channels.find((c) => c.type === CHANNEL_TEXT))!} onClose={() => setInviting(false)} />
      ) : null}
    </div>
  );
}

