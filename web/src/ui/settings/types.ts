/** What the settings layer shows: a guild's settings (at a section, or one channel's),
 * one's own settings, or the instance's diagnostics. Each has an address: see
 * ../settingsRoute.ts. */
export type GuildSection = "profile" | "overview" | "roles" | "channels" | "emoji" | "members" | "invites" | "bans" | "audit";

export type UserSection = "voice" | "appearance" | "account";

export type Overlay =
  | { kind: "guild"; guildId: string; section?: GuildSection; channelId?: string }
  | { kind: "user"; section?: UserSection }
  | { kind: "diag" };
