/** The guild's name and the channel that greets newcomers. */
import { useState } from "preact/hooks";
import { api } from "../../api";
import { store, type GuildState } from "../../store";
import { CHANNEL_TEXT } from "../../types";
import { SectionHeader, errorText } from "./common";

export function OverviewSection({ g }: { g: GuildState }) {
  const [name, setName] = useState(g.guild.name);
  const [system, setSystem] = useState(g.guild.system_channel_id ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const changed = name.trim() !== g.guild.name || system !== (g.guild.system_channel_id ?? "");
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const updated = await api.patch(`/guilds/${g.guild.id}`, { name: name.trim(), system_channel_id: system || null });
      store.apply("GUILD_UPDATE", updated);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-label="Overview">
      <SectionHeader title="Overview" />
      <form class="form narrow-form" onSubmit={save}>
        <label>
          Server name
          <input value={name} required minLength={2} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Welcome channel
          <select value={system} onChange={(e) => setSystem(e.currentTarget.value)}>
            <option value="">None</option>
            {g.channels
              .filter((c) => c.type === CHANNEL_TEXT)
              .map((c) => (
                <option value={c.id} key={c.id}>
                  #{c.name}
                </option>
              ))}
          </select>
        </label>
        {error ? <p class="error" role="alert">{error}</p> : null}
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy || !changed}>
            Save changes
          </button>
        </div>
      </form>
    </section>
  );
}
