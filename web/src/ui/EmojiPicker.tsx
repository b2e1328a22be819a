/**
 * The emoji picker of the composer and of reactions: the server's own (custom) emoji
 * first, then recently used ones, then the standard set by category, with a search by
 * name. The standard set is its own file, fetched the first time a picker opens.
 *
 * It floats beside the button that opened it (`anchor`) in fixed position, above or
 * below whichever has room, so a scrolled message list never clips it.
 */
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { EmojiCategory } from "../emoji-data";
import { store } from "../store";
import type { Emoji } from "../types";
import { EmojiGlyph } from "./MessageView";

export type Picked = { id: string; name: string; animated: boolean; guildId: string } | { id: null; name: string };

const RECENT_KEY = "spectrus.recentEmoji";

let categories: EmojiCategory[] | null = null;
let loading: Promise<EmojiCategory[]> | null = null;

function loadCategories(): Promise<EmojiCategory[]> {
  loading ??= import("../emoji-data").then((m) => (categories = m.CATEGORIES));
  return loading;
}

function recent(): string[] {
  try {
    return (JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]") as string[]).slice(0, 16);
  } catch {
    return [];
  }
}

function remember(key: string): void {
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify([key, ...recent().filter((k) => k !== key)].slice(0, 16)));
  } catch {
    // Not remembered: harmless.
  }
}

/** Custom emoji of every guild one is in, this guild's first. */
function customEmoji(guildId: string | undefined): { guildId: string; guildName: string; emojis: Emoji[] }[] {
  const ids = [...store.guildOrder].sort((a, b) => Number(b === guildId) - Number(a === guildId));
  return ids.flatMap((id) => {
    const g = store.guilds.get(id);
    const emojis = (g?.guild.emojis ?? []).filter((e) => e.id && e.available !== false);
    return g && emojis.length ? [{ guildId: id, guildName: g.guild.name, emojis }] : [];
  });
}

export function EmojiPicker({
  anchor,
  guildId,
  onPick,
  onClose,
  label = "Emoji",
}: {
  anchor: HTMLElement | null;
  guildId: string | undefined;
  onPick: (emoji: Picked) => void;
  onClose: () => void;
  label?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const search = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState("");
  const [, setLoaded] = useState(!!categories);
  const [position, setPosition] = useState<{ top: number; left: number } | null>(null);

  useEffect(() => {
    if (!categories) void loadCategories().then(() => setLoaded(true));
    search.current?.focus();
    const away = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node) && !anchor?.contains(e.target as Node)) onClose();
    };
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, []);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || !anchor) return;
    const a = anchor.getBoundingClientRect();
    const { width, height } = el.getBoundingClientRect();
    const below = a.bottom + 6;
    const top = below + height <= innerHeight - 8 ? below : Math.max(8, a.top - height - 6);
    const left = Math.min(Math.max(8, a.right - width), innerWidth - width - 8);
    if (!position || position.top !== top || position.left !== left) setPosition({ top, left });
  });

  const pick = (emoji: Picked) => {
    remember(emoji.id ? `c:${emoji.id}` : emoji.name);
    onPick(emoji);
  };
  const needle = query.trim().toLowerCase().replace(/^:|:$/g, "");
  const custom = customEmoji(guildId);
  const customById = new Map(custom.flatMap((g) => g.emojis.map((e) => [e.id!, { e, g }] as const)));
  const recents = recent().flatMap((key): Picked[] => {
    if (!key.startsWith("c:")) return [{ id: null, name: key }];
    const found = customById.get(key.slice(2));
    return found ? [{ id: found.e.id!, name: found.e.name ?? "", animated: !!found.e.animated, guildId: found.g.guildId }] : [];
  });

  const customButton = (e: Emoji, g: string) => (
    <button
      type="button"
      key={e.id}
      class="emoji-cell"
      title={`:${e.name}:`}
      aria-label={`:${e.name}:`}
      data-emoji-id={e.id}
      onClick={() => pick({ id: e.id!, name: e.name ?? "", animated: !!e.animated, guildId: g })}
    >
      <EmojiGlyph emoji={e} />
    </button>
  );
  const standardButton = (char: string, name: string) => (
    <button type="button" key={char} class="emoji-cell" title={`:${name}:`} aria-label={char} onClick={() => pick({ id: null, name: char })}>
      {char}
    </button>
  );

  const sections = [];
  if (!needle && recents.length) {
    sections.push(
      <section key="recent" aria-label="Recently used">
        <h3>Recently used</h3>
        <div class="emoji-grid">
          {recents.map((p) =>
            p.id ? customButton({ id: p.id, name: p.name, animated: p.animated }, p.guildId) : standardButton(p.name, p.name),
          )}
        </div>
      </section>,
    );
  }
  for (const g of custom) {
    const list = g.emojis.filter((e) => !needle || (e.name ?? "").toLowerCase().includes(needle));
    if (!list.length) continue;
    sections.push(
      <section key={`g${g.guildId}`} aria-label={g.guildName}>
        <h3>{g.guildName}</h3>
        <div class="emoji-grid">{list.map((e) => customButton(e, g.guildId))}</div>
      </section>,
    );
  }
  for (const c of categories ?? []) {
    const list = c.items.filter((i) => !needle || i.names.some((n) => n.includes(needle)));
    if (!list.length) continue;
    sections.push(
      <section key={c.id} id={`emoji-${c.id}`} aria-label={c.title}>
        <h3>{c.title}</h3>
        <div class="emoji-grid">{list.map((i) => standardButton(i.char, i.names[0]!))}</div>
      </section>,
    );
  }

  return (
    <div
      class="emoji-picker"
      ref={ref}
      role="dialog"
      aria-label={label}
      style={position ? { top: `${position.top}px`, left: `${position.left}px` } : { visibility: "hidden" }}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <input
        ref={search}
        class="emoji-search"
        type="search"
        placeholder="Find an emoji"
        aria-label="Find an emoji"
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            ref.current?.querySelector<HTMLButtonElement>(".emoji-cell")?.click();
          }
        }}
      />
      {!needle && categories ? (
        <nav class="emoji-tabs" aria-label="Categories">
          {categories.map((c) => (
            <button
              type="button"
              key={c.id}
              title={c.title}
              aria-label={c.title}
              onClick={() => ref.current?.querySelector(`#emoji-${c.id}`)?.scrollIntoView({ block: "start" })}
            >
              {c.icon}
            </button>
          ))}
        </nav>
      ) : null}
      <div class="emoji-sections">
        {sections.length ? sections : <p class="muted emoji-empty">{categories ? "No emoji match." : "Loading…"}</p>}
      </div>
    </div>
  );
}
