/** The guild's audit log, newest first: who did what to whom, what changed, and why;
 * filtered by kind of action, older pages on request. */
import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import { P, bits, colorHex, has } from "../../permissions";
import { PERMISSION_GROUPS } from "./permissionNames";
import { store, type GuildState } from "../../store";
import type { AuditEntry, AuditLog, User } from "../../types";
import { Avatar } from "../MessageView";
import { SectionHeader, errorText, formatWhen } from "./common";
import { idTime } from "../../ids";

const ACTIONS: Record<number, [string, "guild" | "channel" | "user" | "role" | "invite" | "emoji" | "none"]> = {
  1: ["updated the server", "none"],
  10: ["created the channel", "channel"],
  11: ["updated the channel", "channel"],
  12: ["deleted the channel", "channel"],
  13: ["added permissions to", "channel"],
  14: ["changed permissions of", "channel"],
  15: ["removed permissions from", "channel"],
  20: ["kicked", "user"],
  22: ["banned", "user"],
  23: ["unbanned", "user"],
  24: ["updated the member", "user"],
  25: ["changed the roles of", "user"],
  26: ["moved", "user"],
  27: ["disconnected", "user"],
  28: ["added the bot", "user"],
  30: ["created the role", "role"],
  31: ["updated the role", "role"],
  32: ["deleted the role", "role"],
  40: ["created the invite", "invite"],
  41: ["updated the invite", "invite"],
  42: ["deleted the invite", "invite"],
  60: ["added the emoji", "emoji"],
  61: ["updated the emoji", "emoji"],
  62: ["deleted the emoji", "emoji"],
  72: ["deleted a message of", "user"],
  73: ["deleted messages in bulk in", "channel"],
  74: ["pinned a message of", "user"],
  75: ["unpinned a message of", "user"],
};

const FILTERS: { value: number; label: string }[] = [
  { value: 0, label: "All actions" },
  { value: 30, label: "Role created" },
  { value: 31, label: "Role updated" },
  { value: 25, label: "Member roles" },
  { value: 24, label: "Member updated (timeouts)" },
  { value: 13, label: "Channel permissions added" },
  { value: 14, label: "Channel permissions changed" },
  { value: 10, label: "Channel created" },
  { value: 20, label: "Kicks" },
  { value: 22, label: "Bans" },
  { value: 23, label: "Unbans" },
  { value: 74, label: "Pins" },
  { value: 60, label: "Emoji added" },
];

/** What a deletion's changes repeat (the old values) is noise; so are these keys. */
const DELETIONS = new Set([12, 15, 32, 42, 62]);
const HIDDEN_KEYS = new Set(["id", "type", "channel_id", "guild_id", "inviter_id", "uses", "max_age", "temporary"]);

function changeValue(entry: AuditEntry, key: string): unknown {
  const c = entry.changes?.find((x) => x.key === key);
  return c ? (c.new_value ?? c.old_value) : undefined;
}

function target(entry: AuditEntry, g: GuildState, users: Map<string, User>): string {
  const kind = ACTIONS[entry.action_type]?.[1] ?? "none";
  const id = entry.target_id;
  const named = changeValue(entry, "name");
  switch (kind) {
    case "user": {
      const user = id ? users.get(id) ?? g.members.get(id)?.user : undefined;
      return user ? store.displayName(user, g.guild.id) : "someone";
    }
    case "channel": {
      const channel = id ? store.channel(id) ?? store.channel(entry.options?.channel_id ?? "") : undefined;
      return `#${channel?.name ?? (typeof named === "string" ? named : "deleted-channel")}`;
    }
    case "role": {
      const role = id ? g.roles.get(id) : undefined;
      return `@${role?.name ?? (typeof named === "string" ? named : "deleted-role")}`;
    }
    case "invite": {
      const code = changeValue(entry, "code");
      return typeof code === "string" ? code : "an invite";
    }
    case "emoji":
      return typeof named === "string" ? `:${named}:` : "an emoji";
    default:
      return "";
  }
}

const LABELS = PERMISSION_GROUPS.flatMap((group) => group.items).map((i) => [P[i.bit], i.label] as const);

function permissionNames(value: bigint): string {
  const names = LABELS.filter(([bit]) => has(value, bit)).map(([, label]) => label.replace(/ \(.*\)$/, ""));
  return names.length ? names.join(", ") : "none";
}

/** A change as a short phrase: names, colours, permissions, roles added or removed. */
function describeChange(change: { key: string; old_value?: unknown; new_value?: unknown }, g: GuildState): string {
  if (change.key === "communication_disabled_until") {
    return typeof change.new_value === "string" ? `timed out until ${formatWhen(change.new_value)}` : "timeout ended";
  }
  if (["permissions", "allow", "deny"].includes(change.key)) {
    const before = bits(String(change.old_value ?? "0"));
    const after = bits(String(change.new_value ?? "0"));
    const gained = after & ~before;
    const lost = before & ~after;
    const parts = [];
    if (gained) parts.push(`+ ${permissionNames(gained)}`);
    if (lost) parts.push(`− ${permissionNames(lost)}`);
    return parts.length ? `${change.key}: ${parts.join("; ")}` : "";
  }
  const value = (v: unknown): string => {
    if (change.key === "color" && typeof v === "number") return colorHex(v);
    if ((change.key === "$add" || change.key === "$remove") && Array.isArray(v)) {
      return v.map((r: { id?: string; name?: string }) => `@${r.name ?? g.roles.get(r.id ?? "")?.name ?? "role"}`).join(", ");
    }
    if (v === null || v === undefined) return "none";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  };
  if (change.key === "$add") return `added ${value(change.new_value)}`;
  if (change.key === "$remove") return `removed ${value(change.new_value)}`;
  if (change.old_value === undefined) return `${change.key}: ${value(change.new_value)}`;
  if (change.new_value === undefined) return `${change.key}: ${value(change.old_value)} removed`;
  return `${change.key}: ${value(change.old_value)} → ${value(change.new_value)}`;
}

export function AuditLogView({ g }: { g: GuildState }) {
  const [action, setAction] = useState(0);
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [users, setUsers] = useState(new Map<string, User>());
  const [more, setMore] = useState(false);
  const [error, setError] = useState("");
  const load = async (before: string | null) => {
    setError("");
    const query = new URLSearchParams({ limit: "50" });
    if (action) query.set("action_type", String(action));
    if (before) query.set("before", before);
    try {
      const log = await api.get<AuditLog>(`/guilds/${g.guild.id}/audit-logs?${query}`);
      setUsers((old) => new Map([...old, ...log.users.map((u) => [u.id, u] as const)]));
      setEntries((old) => (before ? [...(old ?? []), ...log.audit_log_entries] : log.audit_log_entries));
      setMore(log.audit_log_entries.length === 50);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    setEntries(null);
    void load(null);
  }, [g.guild.id, action]);
  return (
    <section aria-label="Audit log">
      <SectionHeader title="Audit log">
        <select aria-label="Filter by action" value={action} onChange={(e) => setAction(Number(e.currentTarget.value))}>
          {FILTERS.map((f) => (
            <option value={f.value} key={f.value}>
              {f.label}
            </option>
          ))}
        </select>
        <button type="button" class="secondary" onClick={() => void load(null)}>
          Refresh
        </button>
      </SectionHeader>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {entries && !entries.length ? <p class="muted">Nothing recorded yet.</p> : null}
      <ol class="audit-list">
        {entries?.map((e) => {
          const actor = e.user_id ? users.get(e.user_id) ?? g.members.get(e.user_id)?.user : undefined;
          const [verb] = ACTIONS[e.action_type] ?? [`did action ${e.action_type} to`];
          const changes = DELETIONS.has(e.action_type) ? [] : (e.changes ?? []).filter((c) => !HIDDEN_KEYS.has(c.key));
          return (
            <li key={e.id} class="audit-entry" data-action={e.action_type}>
              {actor ? <Avatar user={actor} size={32} /> : <span class="avatar-placeholder" />}
              <div class="audit-body">
                <div class="audit-line">
                  <strong>{actor ? store.displayName(actor, g.guild.id) : "The system"}</strong> {verb}{" "}
                  <strong>{target(e, g, users)}</strong>
                </div>
                {changes.length ? (
                  <ul class="audit-changes">
                    {changes
                      .map((c) => describeChange(c, g))
                      .filter((text) => text)
                      .slice(0, 6)
                      .map((text, i) => (
                        <li key={i}>{text}</li>
                      ))}
                  </ul>
                ) : null}
                {e.reason ? <div class="audit-reason">Reason: {e.reason}</div> : null}
              </div>
              <time dateTime={new Date(idTime(e.id)).toISOString()}>{formatWhen(idTime(e.id))}</time>
            </li>
          );
        })}
      </ol>
      {more && entries?.length ? (
        <button type="button" class="link" onClick={() => void load(entries[entries.length - 1]!.id)}>
          Older entries
        </button>
      ) : null}
    </section>
  );
}
