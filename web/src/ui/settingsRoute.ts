/**
 * Settings have addresses, so they can be linked to and back/forward open and close them:
 * - /channels/<guild>/settings[/<section>[/<channel>]]: a server's settings (a section,
 *   or one channel's in the channels section);
 * - /settings[/<voice|appearance|account>]: one's own settings; /settings/diag: the
 *   instance's diagnostics.
 * The server answers these with index.html (CLIENT_ROUTES in webclient.py).
 */
import type { GuildSection, Overlay, UserSection } from "./settings/types";

const GUILD_SECTIONS: readonly GuildSection[] = ["profile", "overview", "roles", "channels", "emoji", "members", "invites", "bans", "audit"];
const USER_SECTIONS: readonly UserSection[] = ["voice", "appearance", "account"];

export function overlayFromPath(path: string): Overlay | null {
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "settings") {
    if (parts[1] === "diag") return { kind: "diag" };
    const section = USER_SECTIONS.find((s) => s === parts[1]);
    return section ? { kind: "user", section } : { kind: "user" };
  }
  if (parts[0] === "channels" && parts[1] && parts[1] !== "@me" && parts[2] === "settings") {
    const section = GUILD_SECTIONS.find((s) => s === parts[3]);
    const overlay: Overlay = { kind: "guild", guildId: parts[1] };
    if (section) overlay.section = section;
    if (section === "channels" && parts[4]) overlay.channelId = parts[4];
    return overlay;
  }
  return null;
}

export function overlayPath(o: Overlay): string {
  if (o.kind === "diag") return "/settings/diag";
  if (o.kind === "user") return o.section ? `/settings/${o.section}` : "/settings";
  let path = `/channels/${o.guildId}/settings`;
  if (o.section) path += `/${o.section}`;
  if (o.section === "channels" && o.channelId) path += `/${o.channelId}`;
  return path;
}
