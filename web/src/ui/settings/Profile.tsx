/** One's own profile in this server: the nickname shown instead of one's name in its
 * member list and messages (PATCH /guilds/{id}/members/@me; CHANGE_NICKNAME). */
import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import { store, type GuildState } from "../../store";
import type { Member } from "../../types";
import { SectionHeader, errorText } from "./common";

export function ProfileSection({ g }: { g: GuildState }) {
  const me = store.me;
  const current = (me && g.members.get(me.id)?.nick) || "";
  const [nick, setNick] = useState(current);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [saved, setSaved] = useState(false);
  useEffect(() => setNick(current), [current]);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    setSaved(false);
    try {
      const member = await api.patch<Member>(`/guilds/${g.guild.id}/members/@me`, { nick: nick.trim() || null });
      if (member.user) store.apply("GUILD_MEMBER_UPDATE", { ...member, guild_id: g.guild.id });
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-label="Server profile">
      <SectionHeader title="Server profile" />
      <form class="form narrow-form" onSubmit={save}>
        <label>
          Nickname
          <input
            name="nick"
            value={nick}
            maxLength={32}
            placeholder={me ? me.global_name || me.username : ""}
            onInput={(e) => {
              setNick(e.currentTarget.value);
              setSaved(false);
            }}
          />
        </label>
        <p class="muted">Shown instead of your name in this server only. Leave it empty to use your name.</p>
        {error ? <p class="error" role="alert">{error}</p> : null}
        <div class="form-actions">
          {saved ? <span class="saved" role="status">Saved</span> : null}
          <button type="submit" class="primary" disabled={busy || nick.trim() === current}>
            Save nickname
          </button>
        </div>
      </form>
    </section>
  );
}
