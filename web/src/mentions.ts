/** Mentions as people type them ("@username") and as Discord stores them ("<@id>"). */
import type { User } from "./types";

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
