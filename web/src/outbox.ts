/**
 * The offline queue: every message goes through it, connected or not.
 *
 * A message gets its nonce when written and keeps it through every retry, and each POST
 * carries `enforce_nonce`, so the API returns the message it already stored instead of
 * storing a second one. That covers the case no client can see: the POST reached the
 * server but its answer was lost with the connection. Messages are sent one at a time in
 * the order written, only while the gateway is connected; a network failure stops the
 * queue until the gateway is back (READY or RESUMED). Text-only messages are kept in
 * localStorage too, so a reload while offline loses nothing.
 *
 * The API only remembers nonces for two minutes (NONCE_DEDUP_SECONDS), which bounds how
 * long an "answer lost" message stays safe to resend; a message that never reached the
 * server is safe however long it waits.
 */
import { ApiError, NetworkError, api } from "./api";
import { makeNonce } from "./ids";
import { store, type PendingMessage } from "./store";
import type { Message } from "./types";

const KEY = "spectrus.outbox";

interface Saved {
  nonce: string;
  channelId: string;
  content: string;
  createdAt: number;
  replyTo?: string;
  mentionReply?: boolean;
}

function persist(): void {
  const userId = store.me?.id;
  if (!userId) return;
  const saved: Saved[] = store.pending
    .filter((p) => p.files.length === 0 && p.state !== "failed")
    .map(({ nonce, channelId, content, createdAt, replyTo, mentionReply }) => ({
      nonce,
      channelId,
      content,
      createdAt,
      replyTo,
      mentionReply,
    }));
  try {
    localStorage.setItem(`${KEY}.${userId}`, JSON.stringify(saved));
  } catch {
    // Storage full or denied: the queue still works for this page's lifetime.
  }
}

/** After READY: take back what an earlier page left unsent. */
export function restore(): void {
  const userId = store.me?.id;
  if (!userId) return;
  let saved: Saved[] = [];
  try {
    saved = JSON.parse(localStorage.getItem(`${KEY}.${userId}`) ?? "[]") as Saved[];
  } catch {
    saved = [];
  }
  const known = new Set(store.pending.map((p) => p.nonce));
  for (const s of saved) {
    if (!known.has(s.nonce)) store.pending.push({ ...s, files: [], state: "queued" });
  }
  store.changed();
}

let running = false;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let retryDelay = 1000;

function retryLater(): void {
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    void flush();
  }, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 15_000);
}

export function enqueue(
  channelId: string,
  content: string,
  files: File[] = [],
  reply?: { id: string; mention: boolean },
): PendingMessage {
  const pending: PendingMessage = {
    nonce: makeNonce(),
    channelId,
    content,
    files,
    createdAt: Date.now(),
    state: "queued",
  };
  if (reply) {
    pending.replyTo = reply.id;
    pending.mentionReply = reply.mention;
  }
  store.pending = [...store.pending, pending];
  persist();
  store.changed();
  void flush();
  return pending;
}

export function discard(nonce: string): void {
  store.pending = store.pending.filter((p) => p.nonce !== nonce);
  persist();
  store.changed();
}

export function retry(nonce: string): void {
  store.pending = store.pending.map((p) =>
    p.nonce === nonce ? { ...p, state: "queued", error: undefined } : p,
  );
  persist();
  store.changed();
  void flush();
}

function update(nonce: string, change: Partial<PendingMessage>): void {
  store.pending = store.pending.map((p) => (p.nonce === nonce ? { ...p, ...change } : p));
  store.changed();
}

/** Send queued messages in order while connected; safe to call any time. */
export async function flush(): Promise<void> {
  if (running) return;
  running = true;
  try {
    for (;;) {
      if (store.status !== "ready") return;
      const next = store.pending.find((p) => p.state === "queued" || p.state === "sending");
      if (!next) return;
      update(next.nonce, { state: "sending" });
      try {
        const sent = await post(next);
        // The gateway's MESSAGE_CREATE may have come first; either way one message.
        store.pending = store.pending.filter((p) => p.nonce !== next.nonce);
        store.apply("MESSAGE_CREATE", sent);
        persist();
        retryDelay = 1000;
      } catch (error) {
        if (error instanceof NetworkError) {
          update(next.nonce, { state: "queued" });
          // A dropped connection makes the gateway reconnect, which flushes again; but a
          // lost answer on a live connection would wait forever without this retry.
          retryLater();
          return;
        }
        const text = error instanceof ApiError ? error.fieldMessage() : String(error);
        update(next.nonce, { state: "failed", error: text });
        persist();
      }
    }
  } finally {
    running = false;
  }
}

function post(p: PendingMessage): Promise<Message> {
  const payload: Record<string, unknown> = { content: p.content, nonce: p.nonce, enforce_nonce: true };
  if (p.replyTo) {
    // A reply to a message deleted meanwhile goes out as a plain message.
    payload.message_reference = { message_id: p.replyTo, fail_if_not_exists: false };
    payload.allowed_mentions = { parse: ["users", "roles", "everyone"], replied_user: !!p.mentionReply };
  }
  const path = `/channels/${p.channelId}/messages`;
  if (p.files.length === 0) return api.post<Message>(path, payload);
  const form = new FormData();
  form.append(
    "payload_json",
    JSON.stringify({
      ...payload,
      attachments: p.files.map((f, i) => ({ id: String(i), filename: f.name })),
    }),
  );
  p.files.forEach((file, i) => form.append(`files[${i}]`, file, file.name));
  return api.post<Message>(path, form);
}
