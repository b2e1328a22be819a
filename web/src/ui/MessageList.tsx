/**
 * A channel's messages, oldest at the top. Stays pinned to the bottom while the reader is
 * there; scrolling near the top loads the previous page and keeps the reader's place
 * (the height added above is added to scrollTop before the frame is painted).
 */
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { channelTitle, loadOlder } from "../client";
import { idTime } from "../ids";
import { store } from "../store";
import type { Channel, Message } from "../types";
import { MessageRow, PendingRow } from "./MessageView";

const GROUP_MS = 7 * 60_000;

function sameGroup(a: Message | undefined, b: Message): boolean {
  if (!a || a.author.id !== b.author.id || b.message_reference) return false;
  const gap = idTime(b.id) - idTime(a.id);
  return gap < GROUP_MS && new Date(a.timestamp).toDateString() === new Date(b.timestamp).toDateString();
}

export function MessageList({
  channel,
  editing,
  setEditing,
  onReply,
}: {
  channel: Channel;
  editing: string | null;
  setEditing: (id: string | null) => void;
  onReply: (m: Message) => void;
}) {
  const page = store.messages.get(channel.id);
  const list = page?.list ?? [];
  const pending = store.pending.filter((p) => p.channelId === channel.id);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ first: string | undefined; height: number; top: number }>({
    first: undefined,
    height: 0,
    top: 0,
  });
  const [, force] = useState(0);

  // New channel: start at the bottom.
  useLayoutEffect(() => {
    atBottom.current = true;
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [channel.id]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const before = anchor.current;
    const first = list[0]?.id;
    if (before.first && first !== before.first && list.some((m) => m.id === before.first) && !atBottom.current) {
      // Older messages were put above: keep what the reader looks at where it was.
      el.scrollTop = before.top + (el.scrollHeight - before.height);
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    anchor.current = { first, height: el.scrollHeight, top: el.scrollTop };
  });

  // A jump (reply, search, pins): the message to the middle of the view, once.
  const highlight = store.highlight?.channelId === channel.id ? store.highlight : null;
  const jumped = useRef(0);
  useLayoutEffect(() => {
    if (!highlight || jumped.current === highlight.at) return;
    const el = scroller.current?.querySelector<HTMLElement>(`article[data-id="${highlight.id}"]`);
    if (!el) return;
    jumped.current = highlight.at;
    atBottom.current = false;
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
  });

  // A short first page leaves no scrollbar to pull: fetch more until the view is full.
  useEffect(() => {
    const el = scroller.current;
    if (el && page && page.hasMore && !page.loading && el.scrollHeight <= el.clientHeight + 50) {
      void loadOlder(channel.id);
    }
  }, [page, channel.id]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    anchor.current = { first: list[0]?.id, height: el.scrollHeight, top: el.scrollTop };
    if (el.scrollTop < 400 && page?.hasMore && !page.loading) void loadOlder(channel.id);
  };

  // Images load later than the text around them: stay at the bottom when they do.
  const onLoadCapture = () => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
    force((n) => n + 1);
  };

  let previous: Message | undefined;
  let previousDay = "";
  const rows = list.map((m) => {
    const day = new Date(m.timestamp).toDateString();
    const divider =
      day !== previousDay ? (
        <div class="day-divider" role="separator" key={`d${m.id}`}>
          <span>{new Date(m.timestamp).toLocaleDateString([], { dateStyle: "long" })}</span>
        </div>
      ) : null;
    const compact = !divider && sameGroup(previous, m);
    previous = m;
    previousDay = day;
    return [
      divider,
      <MessageRow
        key={m.id}
        m={m}
        compact={compact}
        editing={editing === m.id}
        highlighted={highlight?.id === m.id}
        setEditing={setEditing}
        onReply={onReply}
      />,
    ];
  });
  const last = list[list.length - 1];
  const mineLast = !!last && last.author.id === store.me?.id && Date.now() - idTime(last.id) < GROUP_MS;

  return (
    <div
      class="messages"
      ref={scroller}
      onScroll={onScroll}
      onLoadCapture={onLoadCapture}
      role="log"
      aria-label={`Messages in ${channelTitle(channel)}`}
      aria-live="polite"
      aria-relevant="additions"
      data-channel={channel.id}
    >
      <div class="messages-inner">
        {page && !page.hasMore ? (
          <div class="channel-start">
            {channel.guild_id ? (
              <>
                <h2>Welcome to #{channel.name}</h2>
                <p>This is the start of the #{channel.name} channel.</p>
              </>
            ) : (
              <>
                <h2>{channelTitle(channel)}</h2>
                <p>This is the beginning of your conversation.</p>
              </>
            )}
          </div>
        ) : (
          <div class="history-loading" aria-hidden={!page?.loading}>
            {page?.loading || !page ? "Loading…" : ""}
          </div>
        )}
        {rows}
        {pending.map((p, i) => (
          <PendingRow p={p} key={p.nonce} compact={i > 0 || mineLast} />
        ))}
      </div>
    </div>
  );
}
