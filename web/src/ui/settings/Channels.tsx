/** Channels: creating text and voice channels, a channel's name and topic, deleting it,
 * and its permission overwrites (for @everyone, a role or a member: allow, deny, or
 * inherit each permission). */
import { useEffect, useState } from "preact/hooks";
import { api } from "../../api";
import { bits, colorHex } from "../../permissions";
import { store, type GuildState } from "../../store";
import { CHANNEL_CATEGORY, CHANNEL_TEXT, CHANNEL_VOICE, type Channel, type Overwrite } from "../../types";
import { Hash, Speaker } from "../icons";
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
  const [error, setError] = useState("");
  useEffect(() => {
    setName(channel.name ?? "");
    setTopic(channel.topic ?? "");
    setError("");
  }, [channel.id]);
  const dirty = name !== (channel.name ?? "") || topic !== (channel.topic ?? "");
  const save = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const body: Record<string, unknown> = { name: name.trim() };
      if (channel.type === CHANNEL_TEXT) body.topic = topic;
      const updated = await api.patch<Channel>(`/channels/${channel.id}`, body);
      store.apply("CHANNEL_UPDATE", { ...updated, guild_id: g.guild.id });
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
          Channel name
          <input value={name} required maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        {channel.type === CHANNEL_TEXT ? (
          <label>
            Topic
            <input value={topic} maxLength={1024} onInput={(e) => setTopic(e.currentTarget.value)} />
          </label>
        ) : null}
        {error ? <p class="error" role="alert">{error}</p> : null}
        <div class="form-actions">
          <ConfirmButton label="Delete channel" confirm="Really delete?" onConfirm={() => void remove()} />
          <button type="submit" class="primary" disabled={!dirty}>
            Save changes
          </button>
        </div>
      </form>
      <Overwrites key={channel.id} g={g} channel={channel} />
    </div>
  );
}

export function ChannelsSection({ g, initialChannel }: { g: GuildState; initialChannel: string | undefined }) {
  const [selected, setSelected] = useState<string | null>(initialChannel ?? g.channels[0]?.id ?? null);
  const channel = g.channels.find((c) => c.id === selected);
  return (
    <section aria-label="Channels">
      <SectionHeader title="Channels" />
      <CreateChannel g={g} onMade={setSelected} />
      <div class="split">
        <ul class="pick-list" aria-label="Channels">
          {g.channels.map((c) => (
            <li key={c.id} class={c.type === CHANNEL_CATEGORY ? "pick-category" : ""}>
              <button
                type="button"
                aria-current={c.id === selected ? "true" : undefined}
                data-channel={c.id}
                onClick={() => setSelected(c.id)}
              >
                {c.type === CHANNEL_VOICE ? <Speaker size={16} /> : c.type === CHANNEL_TEXT ? <Hash size={16} /> : null}
                <span class="name">{c.name}</span>
              </button>
            </li>
          ))}
        </ul>
        <div class="split-main">
          {channel ? <ChannelEditor g={g} channel={channel} onDeleted={() => setSelected(null)} /> : <p class="muted">Pick a channel.</p>}
        </div>
      </div>
    </section>
  );
}
