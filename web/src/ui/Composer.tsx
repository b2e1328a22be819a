/** The message box: Enter sends, Shift+Enter breaks the line, Up edits your last message,
 * files come by the paperclip, by paste, or dropped anywhere on the chat (the chat pane
 * hands them over through `files`/`setFiles`). Sending always goes through the offline
 * queue.
 *
 * Mentions: "@" followed by letters offers the guild's members (Up/Down, Enter or Tab to
 * pick, Escape to dismiss); the box shows "@username" and the message is sent with
 * Discord's `<@id>` form, for every "@username" of a member (usernames are unique).
 *
 * Replies: a bar above the box names the message answered (Escape drops it) and whether
 * its author is pinged. Emoji: the smiley opens the picker; the server's own emoji go in
 * as ":name:" and are sent as "<:name:id>". */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { channelTitle, resetTyping, typing } from "../client";
import { enqueue } from "../outbox";
import { store } from "../store";
import type { Channel, Message, User } from "../types";
import { encodeEmoji, encodeMentions } from "../mentions";
import { EmojiPicker, type Picked } from "./EmojiPicker";
import { Avatar, formatSize } from "./MessageView";
import { Paperclip, Send, Smile, X } from "./icons";

const MAX_LENGTH = 2000;
const MENTION_QUERY = /(^|\s)@([a-z0-9_.]{0,32})$/i;

function guildUsers(channel: Channel): User[] {
  const g = channel.guild_id ? store.guilds.get(channel.guild_id) : undefined;
  return g ? [...g.members.values()].flatMap((m) => (m.user ? [m.user] : [])) : [];
}

function Preview({ file, onRemove }: { file: File; onRemove: () => void }) {
  const url = useMemo(() => (file.type.startsWith("image/") ? URL.createObjectURL(file) : null), [file]);
  useEffect(() => () => (url ? URL.revokeObjectURL(url) : undefined), [url]);
  return (
    <div class="upload">
      {url ? <img src={url} alt="" /> : <div class="upload-file">{file.name.split(".").pop()?.toUpperCase()}</div>}
      <div class="upload-name" title={file.name}>
        {file.name}
      </div>
      <div class="upload-size">{formatSize(file.size)}</div>
      <button type="button" class="upload-remove" aria-label={`Remove ${file.name}`} onClick={onRemove}>
        <X size={14} />
      </button>
    </div>
  );
}

export function Composer({
  channel,
  files,
  setFiles,
  onEditLast,
  replyTo,
  setReplyTo,
}: {
  channel: Channel;
  files: File[];
  setFiles: (files: File[]) => void;
  onEditLast: () => void;
  replyTo: Message | null;
  setReplyTo: (m: Message | null) => void;
}) {
  const drafts = useRef(new Map<string, string>());
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const emojiButton = useRef<HTMLButtonElement>(null);
  const [emojiOpen, setEmojiOpen] = useState(false);
  const [pingReply, setPingReply] = useState(true);
  // Where the caret goes once an inserted suggestion or emoji is on screen (set in the
  // same commit as the text: a frame later, keys typed meanwhile would land before it).
  const caret = useRef<number | null>(null);
  useLayoutEffect(() => {
    const el = input.current;
    if (el && caret.current !== null) {
      el.focus();
      el.setSelectionRange(caret.current, caret.current);
      caret.current = null;
    }
  }, [text]);

  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo?.id]);

  // Each channel keeps its own draft.
  useEffect(() => {
    setText(drafts.current.get(channel.id) ?? "");
    resetTyping();
    if (matchMedia("(pointer: fine)").matches) input.current?.focus();
  }, [channel.id]);

  useEffect(() => {
    const el = input.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, Math.round(innerHeight * 0.4))}px`;
  }, [text]);

  const [picked, setPicked] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const query = MENTION_QUERY.exec(text.slice(0, input.current?.selectionStart ?? text.length));
  const needle = query ? query[2]!.toLowerCase() : null;
  const suggestions =
    needle !== null && dismissed !== text
      ? guildUsers(channel)
          .filter(
            (u) =>
              u.id !== store.me?.id &&
              (u.username.toLowerCase().startsWith(needle) ||
                (u.global_name ?? "").toLowerCase().startsWith(needle)),
          )
          .slice(0, 8)
      : [];
  const choose = (user: User) => {
    const at = input.current?.selectionStart ?? text.length;
    const before = text.slice(0, at).replace(/@([a-z0-9_.]{0,32})$/i, `@${user.username} `);
    const next = before + text.slice(at);
    setText(next);
    drafts.current.set(channel.id, next);
    setPicked(0);
    caret.current = before.length;
  };

  const guildEmoji = channel.guild_id ? (store.guilds.get(channel.guild_id)?.guild.emojis ?? []) : [];
  const send = () => {
    const content = encodeEmoji(encodeMentions(text.trim(), guildUsers(channel)), guildEmoji);
    if ((!content && files.length === 0) || content.length > MAX_LENGTH) return;
    enqueue(channel.id, content, files, replyTo ? { id: replyTo.id, mention: pingReply } : undefined);
    setText("");
    drafts.current.delete(channel.id);
    setFiles([]);
    setReplyTo(null);
    resetTyping();
  };

  /** An emoji at the caret: the server's own by name, others' in their encoded form. */
  const insertEmoji = (emoji: Picked) => {
    const el = input.current;
    const token = !emoji.id
      ? emoji.name
      : emoji.guildId === channel.guild_id
        ? `:${emoji.name}:`
        : `<${emoji.animated ? "a" : ""}:${emoji.name}:${emoji.id}>`;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const before = text.slice(0, start);
    const pad = before && !/\s$/.test(before) ? " " : "";
    const next = `${before}${pad}${token} ${text.slice(end)}`;
    setText(next);
    drafts.current.set(channel.id, next);
    setEmojiOpen(false);
    caret.current = before.length + pad.length + token.length + 1;
  };

  const offline = store.status !== "ready";
  const over = text.length > MAX_LENGTH;
  const placeholder = `Message ${channelTitle(channel)}`;
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {files.length ? (
        <div class="uploads" aria-label="Files to send">
          {files.map((f, i) => (
            <Preview file={f} key={`${f.name}-${i}`} onRemove={() => setFiles(files.filter((_, j) => j !== i))} />
          ))}
        </div>
      ) : null}
      {replyTo ? (
        <div class="reply-bar" role="status">
          <span>
            Replying to <strong>{store.displayName(replyTo.author, channel.guild_id)}</strong>
          </span>
          <span class="spacer" />
          <button
            type="button"
            class="link ping-toggle"
            aria-pressed={pingReply}
            title={pingReply ? "The author is pinged" : "The author is not pinged"}
            onClick={() => setPingReply(!pingReply)}
          >
            @ {pingReply ? "On" : "Off"}
          </button>
          <button type="button" class="icon-button small" aria-label="Cancel reply" onClick={() => setReplyTo(null)}>
            <X size={16} />
          </button>
        </div>
      ) : null}
      {suggestions.length ? (
        <ul class="suggestions" role="listbox" aria-label="Members">
          {suggestions.map((u, i) => (
            <li
              key={u.id}
              role="option"
              aria-selected={i === Math.min(picked, suggestions.length - 1)}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the box
                choose(u);
              }}
            >
              <Avatar user={u} size={24} />
              <span class="name">{store.displayName(u, channel.guild_id)}</span>
              <span class="username">{u.username}</span>
            </li>
          ))}
        </ul>
      ) : null}
      <div class="composer-row">
        <button type="button" class="icon-button" aria-label="Attach files" title="Attach files" onClick={() => picker.current?.click()}>
          <Paperclip />
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          onChange={(e) => {
            const chosen = [...(e.currentTarget.files ?? [])];
            if (chosen.length) setFiles([...files, ...chosen].slice(0, 10));
            e.currentTarget.value = "";
          }}
        />
        <textarea
          ref={input}
          rows={1}
          value={text}
          placeholder={placeholder}
          aria-label={placeholder}
          aria-describedby={offline ? "offline-note" : undefined}
          aria-autocomplete="list"
          aria-expanded={suggestions.length > 0}
          onInput={(e) => {
            const value = e.currentTarget.value;
            setText(value);
            drafts.current.set(channel.id, value);
            if (value.trim()) typing(channel.id);
          }}
          onPaste={(e) => {
            const pasted = [...(e.clipboardData?.files ?? [])];
            if (pasted.length) {
              e.preventDefault();
              setFiles([...files, ...pasted].slice(0, 10));
            }
          }}
          onKeyDown={(e) => {
            if (suggestions.length) {
              const step = e.key === "ArrowDown" ? 1 : e.key === "ArrowUp" ? -1 : 0;
              if (step) {
                e.preventDefault();
                setPicked((picked + step + suggestions.length) % suggestions.length);
                return;
              }
              if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
                e.preventDefault();
                choose(suggestions[Math.min(picked, suggestions.length - 1)]!);
                return;
              }
              if (e.key === "Escape") {
                e.preventDefault();
                setDismissed(text);
                return;
              }
            }
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            } else if (e.key === "ArrowUp" && !text && files.length === 0) {
              e.preventDefault();
              onEditLast();
            } else if (e.key === "Escape" && replyTo) {
              setReplyTo(null);
            } else if (e.key === "Escape" && files.length) {
              setFiles([]);
            }
          }}
        />
        {over ? <span class="over" role="status">{MAX_LENGTH - text.length}</span> : null}
        <button
          type="button"
          ref={emojiButton}
          class="icon-button"
          aria-label="Emoji"
          title="Emoji"
          aria-expanded={emojiOpen}
          onClick={() => setEmojiOpen(!emojiOpen)}
        >
          <Smile />
        </button>
        {emojiOpen ? (
          <EmojiPicker
            anchor={emojiButton.current}
            guildId={channel.guild_id}
            onPick={insertEmoji}
            onClose={() => setEmojiOpen(false)}
          />
        ) : null}
        <button type="submit" class="icon-button send" aria-label="Send message" disabled={over || (!text.trim() && !files.length)}>
          <Send />
        </button>
      </div>
      {offline ? (
        <div id="offline-note" class="offline-note" role="status">
          {store.status === "offline" ? "You are offline." : "Reconnecting…"} Messages you send now are
          queued and go out when you are back.
        </div>
      ) : null}
    </form>
  );
}
