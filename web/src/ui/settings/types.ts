/** What the settings layer shows: a guild's settings (at a section, or one channel's),
 * one's own settings, or the instance's diagnostics. */
export type GuildSection = "overview" | "roles" | "channels" | "emoji" | "members" | "invites" | "bans" | "audit";

export type Overlay =
  | { kind: "guild"; guildId: string; section?: GuildSection; channelId?: string }
  | { kind: "user" }
  | { kind: "diag" };
