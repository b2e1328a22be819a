/** One message: the message it replies to, author line, formatted content,
 * attachments, link previews, reactions, and the hover / focus toolbar (react, reply,
 * pin, edit, delete). Memoized on the message object, which the store replaces whenever
 * the message changes. */
import { memo } from "preact/compat";
import { useEffect, useRef, useState } from "preact/hooks";
import { deleteMessage, editMessage, jumpTo, localUrl, setPinned, toggleReaction } from "../client";
import { discard, retry } from "../outbox";
import { P, has } from "../permissions";
import { store, type PendingMessage } from "../store";
import type { Attachment, Embed, Emoji, Message, Reaction, User } from "../types";
import { EmojiPicker } from "./EmojiPicker";
import { Markdown } from "./Markdown";
import { Pencil, Pin, Reply, Smile, Trash } from "./icons";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

export function Avatar({ user, size = 40 }: { user: Pick<User, "id" | "username">; size?: number }) {
  // A stable hue per user, so the same person keeps their colour everywhere.
  let hash = 0;
  for (const ch of user.id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return (
    <span
      class="avatar"
      aria-hidden="true"
      data-size={size}
      style={{ backgroundColor: `hsl(${hue} 45% 55%)`, width: size, height: size }}
    >
      {user.username.slice(0, 1).toUpperCase()}
    </span>
  );
}

function formatTime(iso: string, withDate: boolean): string {
  const d = new Date(iso);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  // The gutter of a grouped message is narrow: the hour without AM/PM (the full time is
  // in its tooltip).
  if (!withDate) return time.replace(/\s?[AP]M$/i, "");
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86_400_000);
  if (d.toDateString() === today.toDateString()) return `Today at ${time}`;
  if (d.toDateString() === yesterday.toDateString()) return `Yesterday at ${time}`;
  return `${d.toLocaleDateString()} ${time}`;
}

function AttachmentView({ a }: { a: Attachment }) {
  const isImage = a.content_type?.startsWith("image/") && a.width && a.height;
  if (isImage) {
    // Scale into a 400 x 300 box while keeping the aspect ratio; the box is reserved
    // before the image loads, so the list never jumps.
    const scale = Math.min(1, 400 / a.width!, 300 / a.height!);
    const width = Math.max(1, Math.round(a.width! * scale));
    const height = Math.max(1, Math.round(a.height! * scale));
    return (
      <a class="attachment image" href={localUrl(a.url)} target="_blank" rel="noopener noreferrer">
        <img
          src={localUrl(a.proxy_url || a.url)}
          alt={a.filename}
          width={width}
          height={height}
          loading="lazy"
          decoding="async"
        />
      </a>
    );
  }
  return (
    <a class="attachment file" href={localUrl(a.url)} target="_blank" rel="noopener noreferrer" download={a.filename}>
      <span class="file-name">{a.filename}</span>
      <span class="file-size">{formatSize(a.size)}</span>
    </a>
  );
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A URL of this page's origin (made relative), or null. */
function sameOrigin(url: string): string | null {
  const local = localUrl(url);
  if (local.startsWith("/")) return local;
  try {
    const parsed = new URL(local);
    return parsed.origin === location.origin ? parsed.pathname + parsed.search : null;
  } catch {
    return null;
  }
}

function EmbedView({ e }: { e: Embed }) {
  if (!e.title && !e.description && !e.provider?.name) return null;
  const color = e.color ? `#${e.color.toString(16).padStart(6, "0")}` : undefined;
  const image = e.thumbnail ?? e.image;
  // Only images this instance serves: the page's CSP keeps third parties out, so a
  // preview of another site shows its site, title and description without its picture.
  const local = [image?.proxy_url, image?.url].map((u) => (u ? sameOrigin(u) : null)).find((u) => u) ?? null;
  let site = e.provider?.name;
  if (!site && e.url) {
    try {
      site = new URL(e.url).hostname;
    } catch {
      site = undefined;
    }
  }
  return (
    <div class="embed" style={color ? { borderInlineStartColor: color } : undefined}>
      <div class="embed-text">
        {site ? <div class="embed-provider">{site}</div> : null}
        {e.title ? (
          e.url ? (
            <a class="embed-title" href={e.url} target="_blank" rel="noopener noreferrer nofollow ugc">
              {e.title}
            </a>
          ) : (
            <div class="embed-title">{e.title}</div>
          )
        ) : null}
        {e.description ? <div class="embed-description">{e.description}</div> : null}
      </div>
      {local ? <img class="embed-thumb" src={local} alt="" loading="lazy" /> : null}
    </div>
  );
}

export function EmojiGlyph({ emoji }: { emoji: Emoji }) {
  if (emoji.id) {
    return (
      <img
        class="emoji"
        src={`/emojis/${emoji.id}.${emoji.animated ? "gif" : "png"}`}
        alt={`:${emoji.name}:`}
      />
    );
  }
  return <span class="emoji-text">{emoji.name}</span>;
}

function Reactions({ m }: { m: Message }) {
  if (!m.reactions?.length) return null;
  const react = (r: Reaction) =>
    toggleReaction(m, r.emoji, r.me).catch((e) => store.toast(`Reaction failed: ${String(e)}`));
  return (
    <div class="reactions">
      {m.reactions.map((r) => (
        <button
          type="button"
          class={r.me ? "reaction me" : "reaction"}
          aria-pressed={r.me}
          aria-label={`${r.emoji.name}, ${r.count} reaction${r.count === 1 ? "" : "s"}`}
          onClick={() => react(r)}
          key={r.emoji.id ?? r.emoji.name}
        >
          <EmojiGlyph emoji={r.emoji} />
          <span class="count">{r.count}</span>
        </button>
      ))}
    </div>
  );
}

function ReactionPicker({ m, onClose }: { m: Message; onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  const more = useRef<HTMLButtonElement>(null);
  const [full, setFull] = useState(false);
  useEffect(() => {
    ref.current?.querySelector("button")?.focus();
    const away = (e: MouseEvent) => {
      const target = e.target as HTMLElement;
      if (!ref.current?.contains(target) && !target.closest?.(".emoji-picker")) onClose();
    };
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, []);
  const guildId = m.guild_id ?? store.guildOf(m.channel_id)?.guild.id;
  const guildEmoji = guildId ? (store.guilds.get(guildId)?.guild.emojis ?? []).slice(0, 8) : [];
  const pick = (emoji: Emoji) => {
    const mine = m.reactions?.some((r) => r.me && (emoji.id ? r.emoji.id === emoji.id : r.emoji.name === emoji.name));
    toggleReaction(m, emoji, !!mine).catch((e) => store.toast(`Reaction failed: ${String(e)}`));
    onClose();
  };
  return (
    <div
      class="picker"
      ref={ref}
      role="menu"
      aria-label="Add reaction"
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
          const buttons = [...(ref.current?.querySelectorAll("button") ?? [])];
          const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
          const next = buttons[(i + (e.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length];
          next?.focus();
        }
      }}
    >
      {QUICK_REACTIONS.map((name) => (
        <button type="button" role="menuitem" key={name} aria-label={`React ${name}`} onClick={() => pick({ id: null, name })}>
          {name}
        </button>
      ))}
      {guildEmoji.map((e) => (
        <button type="button" role="menuitem" key={e.id} aria-label={`React :${e.name}:`} onClick={() => pick(e)}>
          <EmojiGlyph emoji={e} />
        </button>
      ))}
      <button
        type="button"
        role="menuitem"
        ref={more}
        class="more"
        aria-label="More emoji"
        aria-expanded={full}
        title="More emoji"
        onClick={() => setFull(!full)}
      >
        <Smile size={18} />+
      </button>
      {full ? (
        <EmojiPicker
          anchor={more.current}
          guildId={guildId}
          label="React with an emoji"
          onClose={() => setFull(false)}
          onPick={(p) => pick(p.id ? { id: p.id, name: p.name, animated: p.animated } : { id: null, name: p.name })}
        />
      ) : null}
    </div>
  );
}

/** A message's text on one line, with mentions and custom emoji by name. */
export function plainText(content: string, guildId: string | undefined): string {
  const g = guildId ? store.guilds.get(guildId) : undefined;
  return content
    .replace(/<a?:(\w+):\d+>/g, ":$1:")
    .replace(/<@!?(\d+)>/g, (_, id: string) => {
      const user = g?.members.get(id)?.user;
      return `@${user ? store.displayName(user, guildId) : "someone"}`;
    })
    .replace(/<@&(\d+)>/g, (_, id: string) => `@${g?.roles.get(id)?.name ?? "role"}`)
    .replace(/<#(\d+)>/g, (_, id: string) => `#${store.channel(id)?.name ?? "channel"}`)
    .replace(/\s+/g, " ")
    .trim();
}

/** The message a reply answers, as a one-line quote above it; a click jumps there. */
function ReplyPreview({ m, guildId }: { m: Message; guildId: string | undefined }) {
  const ref = m.message_reference;
  if (!ref?.message_id) return null;
  const original =
    m.referenced_message ?? store.messages.get(m.channel_id)?.list.find((x) => x.id === ref.message_id) ?? null;
  if (!original) {
    return (
      <div class="reply-preview deleted" aria-label="Reply to a deleted message">
        <span class="reply-spine" aria-hidden="true" />
        <span class="muted">Original message was deleted</span>
      </div>
    );
  }
  const name = store.displayName(original.author, guildId);
  const color = store.roleColor(guildId, original.author.id);
  const text = plainText(original.content, guildId) || (original.attachments.length ? "Click to see attachment" : "");
  return (
    <button
      type="button"
      class="reply-preview"
      aria-label={`Reply to ${name}: ${text}. Jump to it`}
      data-reply-to={original.id}
      onClick={() => void jumpTo(m.channel_id, original.id)}
    >
      <span class="reply-spine" aria-hidden="true" />
      <Avatar user={original.author} size={16} />
      <span class="reply-author" style={color ? { color } : undefined}>
        @{name}
      </span>
      <span class="reply-text">{text.length > 140 ? `${text.slice(0, 140)}…` : text}</span>
    </button>
  );
}

function Editor({ m, onDone }: { m: Message; onDone: () => void }) {
  const [text, setText] = useState(m.content);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  const save = () => {
    const content = text.trim();
    if (content === m.content) return onDone();
    if (!content && !m.attachments.length) {
      deleteMessage(m).catch((e) => store.toast(String(e)));
      return onDone();
    }
    editMessage(m, content).then(onDone, (e) => store.toast(`Edit failed: ${String(e)}`));
  };
  return (
    <div class="editor">
      <textarea
        ref={ref}
        aria-label="Edit message"
        value={text}
        rows={Math.min(10, text.split("\n").length)}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            save();
          } else if (e.key === "Escape") {
            e.preventDefault();
            onDone();
          }
        }}
      />
      <div class="editor-hint">
        Escape to <button type="button" class="link" onClick={onDone}>cancel</button> · Enter to{" "}
        <button type="button" class="link" onClick={save}>save</button>
      </div>
    </div>
  );
}

interface Props {
  m: Message;
  compact: boolean;
  editing: boolean;
  highlighted: boolean;
  setEditing: (id: string | null) => void;
  onReply: (m: Message) => void;
}

function MessageRowInner({ m, compact, editing, highlighted, setEditing, onReply }: Props) {
  const [picking, setPicking] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const mine = m.author.id === store.me?.id;
  const guild = m.guild_id ? store.guilds.get(m.guild_id) : store.guildOf(m.channel_id);
  const guildId = guild?.guild.id;
  const perms = store.permissions(guildId, m.channel_id);
  const canDelete = mine || (!!guildId && has(perms, P.MANAGE_MESSAGES)); // in DMs, one's own only
  const canPin = !guildId || has(perms, P.PIN_MESSAGES) || has(perms, P.MANAGE_MESSAGES);
  const name = store.displayName(m.author, guildId);
  const color = store.roleColor(guildId, m.author.id);
  const mentioned =
    m.mention_everyone || m.mentions.some((u) => u.id === store.me?.id);
  const remove = (skipConfirm: boolean) => {
    if (!skipConfirm && !confirming) return setConfirming(true);
    setConfirming(false);
    deleteMessage(m).catch((e) => store.toast(`Delete failed: ${String(e)}`));
  };
  return (
    <article
      class={`message${compact ? " compact" : ""}${mentioned ? " mentioned" : ""}${m.message_reference ? " reply" : ""}${
        highlighted ? " highlight" : ""
      }`}
      data-id={m.id}
      data-author={m.author.username}
      aria-label={`${name}: ${m.content || m.attachments.map((a) => a.filename).join(", ")}`}
      tabIndex={-1}
    >
      {m.message_reference ? <ReplyPreview m={m} guildId={guildId} /> : null}
      {compact ? (
        <time class="gutter-time" dateTime={m.timestamp} title={new Date(m.timestamp).toLocaleString()}>
          {formatTime(m.timestamp, false)}
        </time>
      ) : (
        <Avatar user={m.author} />
      )}
      <div class="body">
        {compact ? null : (
          <header>
            <span class="author" style={color ? { color } : undefined}>
              {name}
            </span>
            {m.author.bot ? <span class="tag">BOT</span> : null}
            <time dateTime={m.timestamp} title={new Date(m.timestamp).toLocaleString()}>
              {formatTime(m.timestamp, true)}
            </time>
            {m.pinned ? (
              <span class="pinned-mark" title="Pinned" aria-label="Pinned">
                <Pin size={13} />
              </span>
            ) : null}
          </header>
        )}
        {editing ? (
          <Editor m={m} onDone={() => setEditing(null)} />
        ) : m.content ? (
          <div class="content">
            <Markdown
              source={m.content}
              guildId={guildId}
              suffix={
                m.edited_timestamp ? (
                  <span class="edited" title={new Date(m.edited_timestamp).toLocaleString()}>
                    (edited)
                  </span>
                ) : null
              }
            />
          </div>
        ) : null}
        {m.attachments.length ? (
          <div class="attachments">
            {m.attachments.map((a) => (
              <AttachmentView a={a} key={a.id} />
            ))}
          </div>
        ) : null}
        {m.embeds.map((e, i) => (
          <EmbedView e={e} key={i} />
        ))}
        <Reactions m={m} />
      </div>
      <div class={picking || confirming ? "toolbar open" : "toolbar"} role="toolbar" aria-label="Message actions">
        {confirming ? (
          <>
            <span class="confirm-text">Delete?</span>
            <button type="button" class="danger" onClick={() => remove(true)} aria-label="Confirm delete">
              Delete
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </>
        ) : (
          <>
            <button type="button" aria-label="Add reaction" title="Add reaction" onClick={() => setPicking(!picking)}>
              <Smile size={18} />
            </button>
            <button type="button" aria-label="Reply" title="Reply" onClick={() => onReply(m)}>
              <Reply size={18} />
            </button>
            {canPin ? (
              <button
                type="button"
                aria-label={m.pinned ? "Unpin message" : "Pin message"}
                title={m.pinned ? "Unpin" : "Pin"}
                aria-pressed={!!m.pinned}
                onClick={() =>
                  setPinned(m, !m.pinned).catch((e) => store.toast(`Could not ${m.pinned ? "unpin" : "pin"}: ${String(e)}`))
                }
              >
                <Pin size={18} />
              </button>
            ) : null}
            {mine ? (
              <button type="button" aria-label="Edit message" title="Edit" onClick={() => setEditing(m.id)}>
                <Pencil size={18} />
              </button>
            ) : null}
            {canDelete ? (
              <button
                type="button"
                aria-label="Delete message"
                title="Delete (Shift-click skips the question)"
                onClick={(e) => remove(e.shiftKey)}
              >
                <Trash size={18} />
              </button>
            ) : null}
          </>
        )}
        {picking ? <ReactionPicker m={m} onClose={() => setPicking(false)} /> : null}
      </div>
    </article>
  );
}

export const MessageRow = memo(MessageRowInner);

export function PendingRow({ p, compact }: { p: PendingMessage; compact: boolean }) {
  const me = store.me;
  if (!me) return null;
  const guildId = store.guildOf(p.channelId)?.guild.id;
  return (
    <article
      class={`message pending ${p.state}${compact ? " compact" : ""}`}
      data-nonce={p.nonce}
      aria-label={`${p.state === "failed" ? "Not sent" : "Sending"}: ${p.content}`}
    >
      {compact ? <span class="gutter-time" /> : <Avatar user={me} />}
      <div class="body">
        {compact ? null : (
          <header>
            <span class="author">{store.displayName(me, guildId)}</span>
            <time>{p.state === "failed" ? "not sent" : "sending…"}</time>
          </header>
        )}
        {p.content ? (
          <div class="content">
            <Markdown source={p.content} guildId={guildId} />
          </div>
        ) : null}
        {p.files.length ? (
          <div class="attachments">
            {p.files.map((f) => (
              <span class="attachment file" key={f.name}>
                <span class="file-name">{f.name}</span>
                <span class="file-size">{formatSize(f.size)}</span>
              </span>
            ))}
          </div>
        ) : null}
        {p.state === "failed" ? (
          <div class="failed-note" role="alert">
            {p.error ?? "Not sent."}{" "}
            <button type="button" class="link" onClick={() => retry(p.nonce)}>
              Retry
            </button>{" "}
            ·{" "}
            <button type="button" class="link" onClick={() => discard(p.nonce)}>
              Discard
            </button>
          </div>
        ) : null}
      </div>
    </article>
  );
}
