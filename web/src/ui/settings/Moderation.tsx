/** Invites (who made them, uses, expiry; revoke) and bans (reason; unban). */
import type { ComponentChildren } from "preact";
import { api } from "../../api";
import { store, type GuildState } from "../../store";
import type { Ban, InviteFull } from "../../types";
import { Avatar } from "../MessageView";
import { ConfirmButton, SectionHeader, errorText, formatWhen, useFetched } from "./common";
import { useState } from "preact/hooks";

/** One of the guild's lists (`/guilds/{id}/{path}`), refetched on the gateway `events`,
 * with `remove(url)`: a DELETE that refetches, or shows why it failed. */
function useGuildList<T>(g: GuildState, path: string, events: string[]) {
  const { data, error, refetch } = useFetched(() => api.get<T[]>(`/guilds/${g.guild.id}/${path}`), [g.guild.id], events);
  const [failed, setFailed] = useState("");
  const remove = async (url: string) => {
    try {
      await api.delete(url);
      refetch();
    } catch (e) {
      setFailed(errorText(e));
    }
  };
  return { data, error: error || failed, remove };
}

/** A titled section showing `error`, `empty` when the list has no rows (`count` 0), and
 * otherwise a table of `columns` (and one for actions) around the rows. */
function ListSection({
  title,
  error,
  count,
  empty,
  columns,
  children,
}: {
  title: string;
  error: string;
  count: number | undefined;
  empty: string;
  columns: string[];
  children: ComponentChildren;
}) {
  return (
    <section aria-label={title}>
      <SectionHeader title={title} />
      {error ? <p class="error" role="alert">{error}</p> : null}
      {count === 0 ? <p class="muted">{empty}</p> : null}
      {count ? (
        <table class="table">
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c}>{c}</th>
              ))}
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>{children}</tbody>
        </table>
      ) : null}
    </section>
  );
}

export function InvitesSection({ g }: { g: GuildState }) {
  const { data, error, remove } = useGuildList<InviteFull>(g, "invites", ["INVITE_CREATE", "INVITE_DELETE"]);
  return (
    <ListSection
      title="Invites"
      error={error}
      count={data?.length}
      empty="No invites are active."
      columns={["Code", "Channel", "Made by", "Uses", "Expires"]}
    >
      {data?.map((i) => (
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
            <ConfirmButton
              label="Revoke"
              confirm="Really revoke?"
              onConfirm={() => void remove(`/invites/${encodeURIComponent(i.code)}`)}
            />
          </td>
        </tr>
      ))}
    </ListSection>
  );
}

export function BansSection({ g }: { g: GuildState }) {
  const { data, error, remove } = useGuildList<Ban>(g, "bans", ["GUILD_BAN_ADD", "GUILD_BAN_REMOVE"]);
  return (
    <ListSection title="Bans" error={error} count={data?.length} empty="Nobody is banned." columns={["Person", "Reason"]}>
      {data?.map((b) => (
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
            <ConfirmButton
              label="Unban"
              confirm="Really unban?"
              onConfirm={() => void remove(`/guilds/${g.guild.id}/bans/${b.user.id}`)}
            />
          </td>
        </tr>
      ))}
    </ListSection>
  );
}
