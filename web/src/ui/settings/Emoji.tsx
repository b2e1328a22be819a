/** The guild's own emoji: upload (PNG, GIF, JPEG or WebP; a name of letters, digits and
 * underscores), list and delete. */
import { useState } from "preact/hooks";
import { api } from "../../api";
import { store, type GuildState } from "../../store";
import type { Emoji } from "../../types";
import { EmojiGlyph } from "../MessageView";
import { ConfirmButton, SectionHeader, errorText } from "./common";

function readDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function EmojiSection({ g }: { g: GuildState }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const emojis = g.guild.emojis ?? [];
  const upload = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setError("");
    try {
      const image = await readDataUrl(file);
      const made = await api.post<Emoji>(`/guilds/${g.guild.id}/emojis`, { name, image });
      store.apply("GUILD_EMOJIS_UPDATE", { guild_id: g.guild.id, emojis: [...emojis.filter((x) => x.id !== made.id), made] });
      setFile(null);
      setName("");
      (e.target as HTMLFormElement).reset();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async (emoji: Emoji) => {
    try {
      await api.delete(`/guilds/${g.guild.id}/emojis/${emoji.id}`);
      store.apply("GUILD_EMOJIS_UPDATE", { guild_id: g.guild.id, emojis: emojis.filter((x) => x.id !== emoji.id) });
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section aria-label="Emoji">
      <SectionHeader title="Emoji" />
      <form class="inline-form" onSubmit={upload} aria-label="Upload an emoji">
        <input
          type="file"
          accept="image/png,image/gif,image/jpeg,image/webp"
          aria-label="Emoji image"
          required
          onChange={(e) => {
            const chosen = e.currentTarget.files?.[0] ?? null;
            setFile(chosen);
            if (chosen && !name) setName(chosen.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_]/g, "_").slice(0, 32));
          }}
        />
        <input
          name="emoji-name"
          value={name}
          required
          minLength={2}
          maxLength={32}
          pattern="[A-Za-z0-9_]+"
          placeholder="name"
          aria-label="Emoji name"
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={busy || !file}>
          Upload emoji
        </button>
      </form>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {emojis.length ? (
        <table class="table">
          <thead>
            <tr>
              <th>Image</th>
              <th>Name</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {emojis.map((e) => (
              <tr key={e.id} data-emoji={e.name}>
                <td>
                  <EmojiGlyph emoji={e} />
                </td>
                <td>:{e.name}:</td>
                <td class="actions">
                  <ConfirmButton label="Delete" confirm="Really delete?" onConfirm={() => void remove(e)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No emoji of this server yet.</p>
      )}
    </section>
  );
}
