/** Members: a filterable list with each member's roles (add, remove), a timeout (or its
 * end), kick and ban. The owner cannot be acted on; the API enforces the role hierarchy. */
import { useState } from "preact/hooks";
import { api } from "../../api";
import { P, colorHex, has } from "../../permissions";
import { store, type GuildState } from "../../store";
import type { Member } from "../../types";
import { Avatar } from "../MessageView";
import { X } from "../icons";
import { ConfirmButton, SectionHeader, errorText, formatWhen } from "./common";

const TIMEOUTS: { label: string; seconds: number }[] = [
  { label: "60 seconds", seconds: 60 },
  { label: "5 minutes", seconds: 300 },
  { label: "10 minutes", seconds: 600 },
  { label: "1 hour", seconds: 3600 },
  { label: "1 day", seconds: 86_400 },
  { label: "1 week", seconds: 604_800 },
];

function MemberRow({ g, m, setError }: { g: GuildState; m: Member; setError: (text: string) => void }) {
  const user = m.user!;
  const perms = store.permissions(g.guild.id);
  const owner = g.guild.owner_id === user.id;
  const me = user.id === store.me?.id;
  const roles = m.roles.map((id) => g.roles.get(id)).filter((r) => !!r);
  const addable = [...g.roles.values()]
    .filter((r) => r.id !== g.guild.id && !m.roles.includes(r.id))
    .sort((a, b) => b.position - a.position);
  const until = m.communication_disabled_until ? new Date(m.communication_disabled_until) : null;
  const timedOut = !!until && until.getTime() > Date.now();
  const act = (work: Promise<unknown>) => work.catch((e) => setError(errorText(e)));
  const base = `/guilds/${g.guild.id}/members/${user.id}`;
  const name = store.displayName(user, g.guild.id);
  return (
    <tr data-user={user.id} aria-label={name}>
      <td>
        <span class="member-cell">
          <Avatar user={user} size={28} />
          <span>
            <span class="name" style={store.roleColor(g.guild.id, user.id) ? { color: store.roleColor(g.guild.id, user.id)! } : undefined}>
              {name}
            </span>
            <span class="username">{user.username}</span>
            {owner ? <span class="tag">OWNER</span> : null}
            {timedOut ? <span class="tag warn" title={`Until ${formatWhen(until!.toISOString())}`}>TIMED OUT</span> : null}
          </span>
        </span>
      </td>
      <td>
        <span class="chips">
          {roles.map((r) => (
            <span class="chip" key={r.id}>
              <span class="role-dot" style={{ backgroundColor: r.color ? colorHex(r.color) : "var(--text-faint)" }} />
              {r.name}
              {has(perms, P.MANAGE_ROLES) ? (
                <button type="button" aria-label={`Remove role ${r.name} from ${name}`} onClick={() => void act(api.delete(`${base}/roles/${r.id}`))}>
                  <X size={12} />
                </button>
              ) : null}
            </span>
          ))}
          {has(perms, P.MANAGE_ROLES) && addable.length ? (
            <select
              class="chip-add"
              aria-label={`Add a role to ${name}`}
              value=""
              onChange={(e) => {
                const id = e.currentTarget.value;
                e.currentTarget.value = "";
                if (id) void act(api.put(`${base}/roles/${id}`));
              }}
            >
              <option value="">+ Role</option>
              {addable.map((r) => (
                <option value={r.id} key={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          ) : null}
        </span>
      </td>
      <td class="actions">
        {owner || me ? null : (
          <>
            {has(perms, P.MODERATE_MEMBERS) ? (
              timedOut ? (
                <button type="button" class="secondary" onClick={() => void act(api.patch(base, { communication_disabled_until: null }))}>
                  End timeout
                </button>
              ) : (
                <select
                  aria-label={`Time out ${name}`}
                  value=""
                  onChange={(e) => {
                    const seconds = Number(e.currentTarget.value);
                    e.currentTarget.value = "";
                    if (seconds) {
                      const until = new Date(Date.now() + seconds * 1000).toISOString();
                      void act(api.patch(base, { communication_disabled_until: until }));
                    }
                  }}
                >
                  <option value="">Time out…</option>
                  {TIMEOUTS.map((t) => (
                    <option value={t.seconds} key={t.seconds}>
                      {t.label}
                    </option>
                  ))}
                </select>
              )
            ) : null}
            {has(perms, P.KICK_MEMBERS) ? (
              <ConfirmButton label="Kick" confirm={`Kick ${name}?`} onConfirm={() => void act(api.delete(base))} />
            ) : null}
            {has(perms, P.BAN_MEMBERS) ? (
              <ConfirmButton
                label="Ban"
                confirm={`Ban ${name}?`}
                onConfirm={() => void act(api.put(`/guilds/${g.guild.id}/bans/${user.id}`, { delete_message_seconds: 0 }))}
              />
            ) : null}
          </>
        )}
      </td>
    </tr>
  );
}

export function MembersSection({ g }: { g: GuildState }) {
  const [filter, setFilter] = useState("");
  const [error, setError] = useState("");
  const needle = filter.trim().toLowerCase();
  const members = [...g.members.values()]
    .filter((m) => m.user)
    .filter(
      (m) =>
        !needle ||
        m.user!.username.toLowerCase().includes(needle) ||
        store.displayName(m.user!, g.guild.id).toLowerCase().includes(needle),
    )
    .sort((a, b) => store.displayName(a.user!, g.guild.id).localeCompare(store.displayName(b.user!, g.guild.id)));
  return (
    <section aria-label="Members">
      <SectionHeader title={`Members — ${g.members.size}`}>
        <input
          type="search"
          class="filter"
          placeholder="Find a member"
          aria-label="Find a member"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
      </SectionHeader>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <table class="table members-table">
        <thead>
          <tr>
            <th>Member</th>
            <th>Roles</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <MemberRow key={m.user!.id} g={g} m={m} setError={setError} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
