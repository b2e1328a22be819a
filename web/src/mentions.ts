/** Mentions as people type them ("@username") and as Discord stores them ("<@id>"). */
import type { Emoji, User } from "./types";

/** "@username" of members to Discord's "<@id>" (outside code spans and blocks). */
export function encodeMentions(text: string, users: User[]): string {
  if (!users.length) return text;
  const byName = new Map(users.map((u) => [u.username.toLowerCase(), u.id]));
  return text
    .split(/(```[\s\S]*?```|`[^`\n]*`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(/(^|[^\w<])@([a-z0-9_.]{2,32})/gi, (whole, before: string, name: string) => {
            const id = byName.get(name.toLowerCase()) ?? byName.get(name.replace(/\.+$/, "").toLowerCase());
            if (!id) return whole;
            const trailing = name.slice(name.replace(/\.+$/, "").length);
            return `${before}<@${id}>${byName.has(name.toLowerCase()) ? "" : trailing}`;
          }),
    )
    .join("");
}

/** ":name:" of a server's custom emoji to Discord's "<:name:id>" ("<a:name:id>" when
 * animated), outside code; emoji already in that form and unknown names stay as typed. */
export function encodeEmoji(text: string, emojis: Emoji[]): string {
  const byName = new Map(emojis.filter((e) => e.id && e.name).map((e) => [e.name!, e]));
  if (!byName.size) return text;
  return text
    .split(/(```[\s\S]*?```|`[^`\n]*`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(/(<a?:\w+:\d+>)|:(\w{2,32}):/g, (whole, encoded: string | undefined, name: string) => {
            if (encoded) return whole;
            const e = byName.get(name);
            return e ? `<${e.animated ? "a" : ""}:${e.name}:${e.id}>` : whole;
          }),
    )
    .join("");
}
