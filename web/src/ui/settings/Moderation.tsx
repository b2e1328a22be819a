/** Invites (who made them, uses, expiry; revoke) and bans (reason; unban). */
import { api } from "../../api";
import { store, type GuildState } from "../../store";
import type { Ban, InviteFull } from "../../types";
import { Avatar } from "../MessageView";
import { ConfirmButton, SectionHeader, errorText, formatWhen, useFetched } from "./common";
import { useState } from "preact/hooks";

export function InvitesSection({ g }: { g: GuildState }) {
  const { data, error, refetch } = useFetched(
    () => api.get<InviteFull[]>(`/guilds/${g.guild.id}/invites`),
    [g.guild.id],
    ["INVITE_CREATE", "INVITE_DELETE"],
  );
  const [failed, setFailed] = useState("");
  const revoke = async (code: string) => {
    try {
      await api.delete(`/invites/${encodeURIComponent(code)}`);
      refetch();
    } catch (e) {
      setFailed(errorText(e));
    }
  };
  return (
    <section aria-label="Invites">
      <SectionHeader title="Invites" />
      {error || failed ? <p class="error" role="alert">{error || failed}</p> : null}
      {data && !data.length ? <p class="muted">No invites are active.</p> : null}
      {data?.length ? (
        <table class="table">
          <thead>
            <tr>
              <th>Code</th>
              <th>Channel</th>
              <th>Made by</th>
              <th>Uses</th>
              <th>Expires</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {data.map((i) => (
              <tr key={i.code} data-invite={i.code}>
                <td>
                  <code>{i.code}</code>
                </td>
                <td>#{i.channel?.name}</td>
                <td>{i.inviter ? store.displayName(i.inviter, g.guild.id) : "—"}</td>
                <td>
                  {i.uses ?? 0}
                  {i.max_uses ? ` / ${i.max_uses}` : ""}
                </td>
                <td>{i.expires_at ? formatWhen(i.expires_at) : "Never"}</td>
                <td class="actions">
                  <ConfirmButton label="Revoke" confirm="Really revoke?" onConfirm={() => void revoke(i.code)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function BansSection({ g }: { g: GuildState }) {
  const { data, error, refetch } = useFetched(
    () => api.get<Ban[]>(`/guilds/${g.guild.id}/bans`),
    [g.guild.id],
    ["GUILD_BAN_ADD", "GUILD_BAN_REMOVE"],
  );
  const [failed, setFailed] = useState("");
  const unban = async (userId: string) => {
    try {
      await api.delete(`/guilds/${g.guild.id}/bans/${userId}`);
      refetch();
    } catch (e) {
      setFailed(errorText(e));
    }
  };
  return (
    <section aria-label="Bans">
      <SectionHeader title="Bans" />
      {error || failed ? <p class="error" role="alert">{error || failed}</p> : null}
      {data && !data.length ? <p class="muted">Nobody is banned.</p> : null}
      {data?.length ? (
        <table class="table">
          <thead>
            <tr>
              <th>Person</th>
              <th>Reason</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {data.map((b) => (
              <tr key={b.user.id} data-user={b.user.id}>
                <td>
                  <span class="member-cell">
                    <Avatar user={b.user} size={28} />
                    <span class="name">{b.user.global_name || b.user.username}</span>
                    <span class="username">{b.user.username}</span>
                  </span>
                </td>
                <td>{b.reason || <span class="muted">No reason given</span>}</td>
                <td class="actions">
                  <ConfirmButton label="Unban" confirm="Really unban?" onConfirm={() => void unban(b.user.id)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
