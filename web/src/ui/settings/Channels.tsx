/** Channels: creating text and voice channels and categories, a channel's name, topic and
 * category, its place among its category's channels (PATCH /guilds/{id}/channels with
 * positions), deleting it, and its permission overwrites (for @everyone, a role or a member: allow, deny, or
 * inherit each permission). */
import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import { bits, colorHex } from "../../permissions";
import { store, type GuildState } from "../../store";
import { CHANNEL_CATEGORY, CHANNEL_TEXT, CHANNEL_VOICE, type Channel, type Overwrite } from "../../types";
import { Chevron, Hash, Speaker } from "../icons";
import { ConfirmButton, SectionHeader, errorText } from "./common";
import { OverwritePermissions } from "./PermissionEditor";

function CreateChannel({ g, onMade }: { g: GuildState; onMade: (id: string) => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState(CHANNEL_TEXT);
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const made = await api.post<Channel>(`/guilds/${g.guild.id}/channels`, { name: name.trim(), type });
      store.apply("CHANNEL_CREATE", { ...made, guild_id: g.guild.id });
      setName("");
      onMade(made.id);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-label="Create a channel">
      <input
        name="channel-name"
        value={name}
        required
        maxLength={100}
        placeholder="new-channel"
        aria-label="New channel name"
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <select aria-label="Channel type" value={type} onChange={(e) => setType(Number(e.currentTarget.value))}>
        <option value={CHANNEL_TEXT}>Text</option>
        <option value={CHANNEL_VOICE}>Voice</option>
        <option value={CHANNEL_CATEGORY}>Category</option>
      </select>
      <button type="submit" class="primary">
        Create channel
      </button>
      {error ? <p class="error" role="alert">{error}</p> : null}
    </form>
  );
}

function overwriteName(g: GuildState, o: Overwrite): string {
  if (o.id === g.guild.id) return "@everyone";
  if (o.type === 0) return g.roles.get(o.id)?.name ?? "deleted role";
  const user = g.members.get(o.id)?.user;
  return user ? store.displayName(user, g.guild.id) : "a former member";
}

function Overwrites({ g, channel }: { g: GuildState; channel: Channel }) {
  const overwrites = channel.permission_overwrites ?? [];
  const [selected, setSelected] = useState<string | null>(overwrites[0]?.id ?? null);
  const [draft, setDraft] = useState<Overwrite | null>(null);
  const [error, setError] = useState("");
  const [saved, setSaved] = useState(false);
  const current = draft ?? overwrites.find((o) => o.id === selected) ?? null;
  useEffect(() => {
    if (draft && draft.id !== selected) setDraft(null);
    setSaved(false);
  }, [selected]);
  const candidates = [
    ...(overwrites.some((o) => o.id === g.guild.id) ? [] : [{ id: g.guild.id, type: 0, label: "@everyone" }]),
    ...[...g.roles.values()]
      .filter((r) => r.id !== g.guild.id && !overwrites.some((o) => o.id === r.id))
      .sort((a, b) => b.position - a.position)
      .map((r) => ({ id: r.id, type: 0, label: `Role: ${r.name}` })),
    ...[...g.members.values()]
      .filter((m) => m.user && !overwrites.some((o) => o.id === m.user!.id))
      .map((m) => ({ id: m.user!.id, type: 1, label: `Member: ${store.displayName(m.user!, g.guild.id)}` })),
  ];
  const add = (value: string) => {
    const c = candidates.find((x) => x.id === value);
    if (!c) return;
    setSelected(c.id);
    setDraft({ id: c.id, type: c.type, allow: "0", deny: "0" });
  };
  const save = async () => {
    if (!current) return;
    setError("");
    try {
      await api.put(`/channels/${channel.id}/permissions/${current.id}`, {
        type: current.type,
        allow: current.allow,
        deny: current.deny,
      });
      const next = [...overwrites.filter((o) => o.id !== current.id), current];
      store.apply("CHANNEL_UPDATE", { ...channel, permission_overwrites: next });
      setDraft(null);
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const remove = async () => {
    if (!current) return;
    setError("");
    try {
      if (overwrites.some((o) => o.id === current.id)) {
        await api.delete(`/channels/${channel.id}/permissions/${current.id}`);
        store.apply("CHANNEL_UPDATE", { ...channel, permission_overwrites: overwrites.filter((o) => o.id !== current.id) });
      }
      setDraft(null);
      setSelected(null);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const listed = [...overwrites];
  if (draft && !listed.some((o) => o.id === draft.id)) listed.push(draft);
  return (
    <div class="overwrites" aria-label="Permission overwrites">
      <h3 class="subhead">Permissions</h3>
      <p class="muted">
        Overwrites change what roles or people may do in this channel only. “/” keeps what their roles allow.
      </p>
      <div class="split compact-split">
        <div>
          <ul class="pick-list" aria-label="Overwrites">
            {listed.map((o) => {
              const role = o.type === 0 ? g.roles.get(o.id) : undefined;
              return (
                <li key={o.id}>
                  <button
                    type="button"
                    aria-current={o.id === current?.id ? "true" : undefined}
                    data-overwrite={o.id}
                    onClick={() => setSelected(o.id)}
                  >
                    <span class="role-dot" style={{ backgroundColor: role?.color ? colorHex(role.color) : "var(--text-faint)" }} />
                    <span class="name">{overwriteName(g, o)}</span>
                  </button>
                </li>
              );
            })}
          </ul>
          {candidates.length ? (
            <select
              class="add-overwrite"
              aria-label="Add an overwrite for"
              value=""
              onChange={(e) => {
                add(e.currentTarget.value);
                e.currentTarget.value = "";
              }}
            >
              <option value="">Add a role or member…</option>
              {candidates.map((c) => (
                <option value={c.id} key={c.id}>
                  {c.label}
                </option>
              ))}
            </select>
          ) : null}
        </div>
        <div class="split-main">
          {current ? (
            <>
              <OverwritePermissions
                allow={bits(current.allow)}
                deny={bits(current.deny)}
                onChange={(allow, deny) => {
                  setSaved(false);
                  setDraft({ ...current, allow: allow.toString(), deny: deny.toString() });
                }}
              />
              {error ? <p class="error" role="alert">{error}</p> : null}
              <div class="form-actions sticky-actions">
                {saved && !draft ? <span class="saved" role="status">Saved</span> : null}
                <ConfirmButton label="Remove overwrite" confirm="Really remove?" onConfirm={() => void remove()} />
                <button type="button" class="primary" disabled={!draft} onClick={() => void save()}>
                  Save permissions
                </button>
              </div>
            </>
          ) : (
            <p class="muted">Pick an overwrite, or add one for a role or a member.</p>
          )}
        </div>
      </div>
    </div>
  );
}

function ChannelEditor({ g, channel, onDeleted }: { g: GuildState; channel: Channel; onDeleted: () => void }) {
  const [name, setName] = useState(channel.name ?? "");
  const [topic, setTopic] = useState(channel.topic ?? "");
  const [parent, setParent] = useState(channel.parent_id ?? "");
  const [error, setError] = useState("");
  const [saved, setSaved] = useState(false);
  const categories = g.channels.filter((c) => c.type === CHANNEL_CATEGORY);
  const dirty = name !== (channel.name ?? "") || topic !== (channel.topic ?? "") || parent !== (channel.parent_id ?? "");
  const save = async (e: Event) => {
    e.preventDefault();
    setError("");
    setSaved(false);
    try {
      const body: Record<string, unknown> = { name: name.trim() };
      if (channel.type === CHANNEL_TEXT) body.topic = topic;
      if (channel.type !== CHANNEL_CATEGORY && parent !== (channel.parent_id ?? "")) body.parent_id = parent || null;
      const updated = await api.patch<Channel>(`/channels/${channel.id}`, body);
      store.apply("CHANNEL_UPDATE", { ...updated, guild_id: g.guild.id });
      setSaved(true);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const remove = async () => {
    try {
      await api.delete(`/channels/${channel.id}`);
      store.apply("CHANNEL_DELETE", { ...channel, guild_id: g.guild.id });
      onDeleted();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div class="channel-editor" aria-label={`Edit channel ${channel.name}`}>
      <form class="form" onSubmit={save}>
        <label>
          {channel.type === CHANNEL_CATEGORY ? "Category name" : "Channel name"}
          <input
            value={name}
            required
            maxLength={100}
            onInput={(e) => {
              setName(e.currentTarget.value);
              setSaved(false);
            }}
          />
        </label>
        {channel.type !== CHANNEL_CATEGORY ? (
          <label>
            Category
            <select
              aria-label="Category"
              value={parent}
              onChange={(e) => {
                setParent(e.currentTarget.value);
                setSaved(false);
              }}
            >
              <option value="">No category</option>
              {categories.map((c) => (
                <option value={c.id} key={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        {channel.type === CHANNEL_TEXT ? (
          <label>
            Topic
            <input value={topic} maxLength={1024} onInput={(e) => setTopic(e.currentTarget.value)} />
          </label>
        ) : null}
        {error ? <p class="error" role="alert">{error}</p> : null}
        <div class="form-actions">
          {saved && !dirty ? <span class="saved" role="status">Saved</span> : null}
          <ConfirmButton label={channel.type === CHANNEL_CATEGORY ? "Delete category" : "Delete channel"} confirm="Really delete?" onConfirm={() => void remove()} />
          <button type="submit" class="primary" disabled={!dirty}>
            Save changes
          </button>
        </div>
      </form>
      <Overwrites key={channel.id} g={g} channel={channel} />
    </div>
  );
}

/** The channels sharing `c`'s place: same category (or none), and voice with voice, text
 * with text (the sidebar lists a category's text channels before its voice ones). */
function siblings(g: GuildState, c: Channel): Channel[] {
  if (c.type === CHANNEL_CATEGORY) return g.channels.filter((x) => x.type === CHANNEL_CATEGORY);
  const known = new Set(g.channels.filter((x) => x.type === CHANNEL_CATEGORY).map((x) => x.id));
  const parentOf = (x: Channel) => (x.parent_id && known.has(x.parent_id) ? x.parent_id : null);
  return g.channels.filter(
    (x) => x.type !== CHANNEL_CATEGORY && parentOf(x) === parentOf(c) && (x.type === CHANNEL_VOICE) === (c.type === CHANNEL_VOICE),
  );
}

/** Moves `c` one place up or down among its siblings: every sibling gets its index as
 * its position, in one PATCH. */
async function move(g: GuildState, c: Channel, step: -1 | 1): Promise<void> {
  const list = siblings(g, c);
  const at = list.findIndex((x) => x.id === c.id);
  const to = at + step;
  if (at < 0 || to < 0 || to >= list.length) return;
  const order = [...list];
  [order[at], order[to]] = [order[to]!, order[at]!];
  await api.patch(
    `/guilds/${g.guild.id}/channels`,
    order.map((x, position) => ({ id: x.id, position })),
  );
  order.forEach((x, position) => store.apply("CHANNEL_UPDATE", { ...x, position, guild_id: g.guild.id }));
}

export function ChannelsSection({ g, initialChannel }: { g: GuildState; initialChannel: string | undefined }) {
  const [selected, setSelected] = useState<string | null>(initialChannel ?? g.channels[0]?.id ?? null);
  const [error, setError] = useState("");
  const channel = g.channels.find((c) => c.id === selected);
  const step = (c: Channel, by: -1 | 1) => {
    setError("");
    move(g, c, by).catch((err: unknown) => setError(errorText(err)));
  };
  return (
    <section aria-label="Channels">
      <SectionHeader title="Channels" />
      <CreateChannel g={g} onMade={setSelected} />
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="split">
        <ul class="pick-list" aria-label="Channels">
          {g.channels.map((c) => {
            const list = siblings(g, c);
            const at = list.findIndex((x) => x.id === c.id);
            return (
              <li key={c.id} class={`pick-move${c.type === CHANNEL_CATEGORY ? " pick-category" : c.parent_id ? " pick-child" : ""}`}>
                <button
                  type="button"
                  aria-current={c.id === selected ? "true" : undefined}
                  data-channel={c.id}
                  onClick={() => setSelected(c.id)}
                >
                  {c.type === CHANNEL_VOICE ? <Speaker size={16} /> : c.type === CHANNEL_TEXT ? <Hash size={16} /> : null}
                  <span class="name">{c.name}</span>
                </button>
                <span class="move-buttons">
                  <button type="button" class="icon-button" aria-label={`Move ${c.name} up`} title="Move up" disabled={at <= 0} onClick={() => step(c, -1)}>
                    <Chevron size={12} up />
                  </button>
                  <button
                    type="button"
                    class="icon-button"
                    aria-label={`Move ${c.name} down`}
                    title="Move down"
                    disabled={at < 0 || at >= list.length - 1}
                    onClick={() => step(c, 1)}
                  >
                    <Chevron size={12} open />
                  </button>
                </span>
              </li>
            );
          })}
        </ul>
        <div class="split-main">
          {channel ? <ChannelEditor key={channel.id} g={g} channel={channel} onDeleted={() => setSelected(null)} /> : <p class="muted">Pick a channel.</p>}
        </div>
      </div>
    </section>
  );
}
