/** The create-guild, join-by-invite and invite-people dialogs. */
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
import { acceptInvite, createGuild, createInvite } from "../client";
import type { Channel } from "../types";
import { Modal } from "./Modal";
import { Copy } from "./icons";

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.fieldMessage() : String(error);
}

/** An invite code from a full link (…/invite/CODE), a bare code, or a discord.gg link. */
export function inviteCode(text: string): string {
  const trimmed = text.trim();
  const match = /(?:\/invite\/|discord\.gg\/)([A-Za-z0-9-]+)\/?$/.exec(trimmed);
  return match ? match[1]! : trimmed;
}

export function CreateGuildDialog({ onClose }: { onClose: () => void }) {
  const [mode, setMode] = useState<"create" | "join">("create");
  const [name, setName] = useState("");
  const [link, setLink] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      if (mode === "create") await createGuild(name.trim());
      else await acceptInvite(inviteCode(link));
      onClose();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={mode === "create" ? "Create a server" : "Join a server"} onClose={onClose}>
      <div class="segmented" role="tablist">
        <button type="button" role="tab" aria-selected={mode === "create"} onClick={() => setMode("create")}>
          Create
        </button>
        <button type="button" role="tab" aria-selected={mode === "join"} onClick={() => setMode("join")}>
          Join with an invite
        </button>
      </div>
      <form onSubmit={submit} class="form">
        {mode === "create" ? (
          <label>
            Server name
            <input
              name="guild-name"
              value={name}
              required
              minLength={2}
              maxLength={100}
              autoFocus
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </label>
        ) : (
          <label>
            Invite link or code
            <input
              name="invite"
              value={link}
              required
              autoFocus
              placeholder={`${location.origin}/invite/…`}
              onInput={(e) => setLink(e.currentTarget.value)}
            />
          </label>
        )}
        {error ? <p class="error" role="alert">{error}</p> : null}
        <button type="submit" class="primary" disabled={busy}>
          {mode === "create" ? "Create" : "Join"}
        </button>
      </form>
    </Modal>
  );
}

export function InviteDialog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const [link, setLink] = useState("");
  const [error, setError] = useState("");
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    createInvite(channel.id).then(
      (invite) => setLink(`${location.origin}/invite/${invite.code}`),
      (err) => setError(errorText(err)),
    );
  }, [channel.id]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      (document.getElementById("invite-link") as HTMLInputElement | null)?.select();
    }
  };
  return (
    <Modal title="Invite people" onClose={onClose}>
      <p class="muted">Send this link to someone to let them join. It works for 7 days.</p>
      <div class="copy-row">
        <input
          id="invite-link"
          readOnly
          value={link || "Making a link…"}
          aria-label="Invite link"
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" class="primary" onClick={copy} disabled={!link}>
          <Copy size={16} /> {copied ? "Copied" : "Copy"}
        </button>
      </div>
      {error ? <p class="error" role="alert">{error}</p> : null}
    </Modal>
  );
}
