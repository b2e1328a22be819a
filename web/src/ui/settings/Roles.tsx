/** Roles: the list (highest first), creating one, and editing a role's name, colour,
 * display options and permissions; deleting it. @everyone has permissions only. */
import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import { bits, colorHex } from "../../permissions";
import { store, type GuildState } from "../../store";
import type { Role } from "../../types";
import { ConfirmButton, SectionHeader, errorText } from "./common";
import { RolePermissions } from "./PermissionEditor";

export const SWATCHES = [0x1abc9c, 0x2ecc71, 0x3498db, 0x9b59b6, 0xe91e63, 0xf1c40f, 0xe67e22, 0xe74c3c, 0x95a5a6, 0x607d8b];

function RoleEditor({ g, role, onDeleted }: { g: GuildState; role: Role; onDeleted: () => void }) {
  const everyone = role.id === g.guild.id;
  const [name, setName] = useState(role.name);
  const [color, setColor] = useState(role.color);
  const [hoist, setHoist] = useState(role.hoist);
  const [mentionable, setMentionable] = useState(role.mentionable);
  const [perms, setPerms] = useState(bits(role.permissions));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setName(role.name);
    setColor(role.color);
    setHoist(role.hoist);
    setMentionable(role.mentionable);
    setPerms(bits(role.permissions));
    setError("");
    setSaved(false);
  }, [role.id]);
  const dirty =
    name !== role.name ||
    color !== role.color ||
    hoist !== role.hoist ||
    mentionable !== role.mentionable ||
    perms !== bits(role.permissions);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const body = everyone
        ? { permissions: perms.toString() }
        : { name: name.trim(), color, hoist, mentionable, permissions: perms.toString() };
      const updated = await api.patch<Role>(`/guilds/${g.guild.id}/roles/${role.id}`, body);
      store.apply("GUILD_ROLE_UPDATE", { guild_id: g.guild.id, role: updated });
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    try {
      await api.delete(`/guilds/${g.guild.id}/roles/${role.id}`);
      store.apply("GUILD_ROLE_DELETE", { guild_id: g.guild.id, role_id: role.id });
      onDeleted();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form class="form role-editor" onSubmit={save} aria-label={`Edit role ${role.name}`}>
      {everyone ? (
        <p class="muted">@everyone holds what every member may do unless a role or a channel says otherwise.</p>
      ) : (
        <>
          <label>
            Role name
            <input name="role-name" value={name} required maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <div class="field">
            <span class="field-label">Colour</span>
            <div class="swatches">
              <button
                type="button"
                class={`swatch none${color === 0 ? " chosen" : ""}`}
                aria-label="No colour"
                aria-pressed={color === 0}
                onClick={() => setColor(0)}
              />
              {SWATCHES.map((c) => (
                <button
                  type="button"
                  key={c}
                  class={`swatch${color === c ? " chosen" : ""}`}
                  style={{ backgroundColor: colorHex(c) }}
                  aria-label={`Colour ${colorHex(c)}`}
                  aria-pressed={color === c}
                  onClick={() => setColor(c)}
                />
              ))}
              <input
                type="color"
                aria-label="Custom colour"
                value={colorHex(color || 0x99aab5)}
                onInput={(e) => setColor(parseInt(e.currentTarget.value.slice(1), 16))}
              />
            </div>
          </div>
          <label class="check">
            <input type="checkbox" checked={hoist} onChange={(e) => setHoist(e.currentTarget.checked)} />
            Show members with this role separately in the member list
          </label>
          <label class="check">
            <input type="checkbox" checked={mentionable} onChange={(e) => setMentionable(e.currentTarget.checked)} />
            Anyone may @mention this role
          </label>
        </>
      )}
      <h3 class="subhead">Permissions</h3>
      <RolePermissions value={perms} onChange={setPerms} />
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="form-actions sticky-actions">
        {saved && !dirty ? <span class="saved" role="status">Saved</span> : null}
        {!everyone ? <ConfirmButton label="Delete role" confirm="Really delete?" onConfirm={() => void remove()} /> : null}
        <button type="submit" class="primary" disabled={busy || !dirty}>
          Save changes
        </button>
      </div>
    </form>
  );
}

export function RolesSection({ g }: { g: GuildState }) {
  const roles = [...g.roles.values()].sort((a, b) => b.position - a.position);
  const [selected, setSelected] = useState<string | null>(roles.find((r) => r.id !== g.guild.id)?.id ?? g.guild.id);
  const [error, setError] = useState("");
  const role = selected ? g.roles.get(selected) : undefined;
  const create = async () => {
    setError("");
    try {
      const made = await api.post<Role>(`/guilds/${g.guild.id}/roles`, { name: "new role" });
      store.apply("GUILD_ROLE_CREATE", { guild_id: g.guild.id, role: made });
      setSelected(made.id);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const members = (id: string) => [...g.members.values()].filter((m) => m.roles.includes(id)).length;
  return (
    <section aria-label="Roles">
      <SectionHeader title="Roles">
        <button type="button" class="primary" onClick={() => void create()}>
          Create role
        </button>
      </SectionHeader>
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="split">
        <ul class="pick-list" aria-label="Roles">
          {roles.map((r) => (
            <li key={r.id}>
              <button
                type="button"
                aria-current={r.id === selected ? "true" : undefined}
                data-role={r.id}
                onClick={() => setSelected(r.id)}
              >
                <span class="role-dot" style={{ backgroundColor: r.color ? colorHex(r.color) : "var(--text-faint)" }} />
                <span class="name">{r.id === g.guild.id ? "@everyone" : r.name}</span>
                {r.id !== g.guild.id ? <span class="count">{members(r.id)}</span> : null}
              </button>
            </li>
          ))}
        </ul>
        <div class="split-main">{role ? <RoleEditor g={g} role={role} onDeleted={() => setSelected(g.guild.id)} /> : null}</div>
      </div>
    </section>
  );
}
