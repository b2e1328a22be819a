/**
 * Discord's permission bits and how a member's permissions come out of roles and channel
 * overwrites (the same rules the server applies; the client uses them only to decide
 * which buttons to show: the server checks every action itself).
 *
 * Bits go past 2^53, so they are BigInts here and decimal strings on the wire.
 */
import type { Channel, Guild, Member, Role } from "./types";

export const P = {
  CREATE_INSTANT_INVITE: 1n << 0n,
  KICK_MEMBERS: 1n << 1n,
  BAN_MEMBERS: 1n << 2n,
  ADMINISTRATOR: 1n << 3n,
  MANAGE_CHANNELS: 1n << 4n,
  MANAGE_GUILD: 1n << 5n,
  ADD_REACTIONS: 1n << 6n,
  VIEW_AUDIT_LOG: 1n << 7n,
  PRIORITY_SPEAKER: 1n << 8n,
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  MANAGE_MESSAGES: 1n << 13n,
  EMBED_LINKS: 1n << 14n,
  ATTACH_FILES: 1n << 15n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MENTION_EVERYONE: 1n << 17n,
  USE_EXTERNAL_EMOJIS: 1n << 18n,
  CONNECT: 1n << 20n,
  SPEAK: 1n << 21n,
  MUTE_MEMBERS: 1n << 22n,
  DEAFEN_MEMBERS: 1n << 23n,
  MOVE_MEMBERS: 1n << 24n,
  USE_VAD: 1n << 25n,
  CHANGE_NICKNAME: 1n << 26n,
  MANAGE_NICKNAMES: 1n << 27n,
  MANAGE_ROLES: 1n << 28n,
  MANAGE_WEBHOOKS: 1n << 29n,
  MANAGE_GUILD_EXPRESSIONS: 1n << 30n,
  MODERATE_MEMBERS: 1n << 40n,
  PIN_MESSAGES: 1n << 51n,
} as const;

export type PermissionName = keyof typeof P;

export const ALL = Object.values(P).reduce((a, b) => a | b, 0n);

export function bits(value: string | undefined | null): bigint {
  try {
    return BigInt(value ?? "0");
  } catch {
    return 0n;
  }
}

export function has(value: bigint, bit: bigint): boolean {
  return (value & bit) === bit;
}

/** A member's guild-wide permissions: @everyone's and their roles', all for the owner
 * and for administrators. */
export function guildPermissions(guild: Guild, roles: Map<string, Role>, member: Member | undefined, userId: string): bigint {
  if (guild.owner_id === userId) return ALL;
  let value = bits(roles.get(guild.id)?.permissions);
  for (const id of member?.roles ?? []) value |= bits(roles.get(id)?.permissions);
  return has(value, P.ADMINISTRATOR) ? ALL : value;
}

/** Guild permissions with the channel's overwrites applied in Discord's order:
 * @everyone, then the roles' (denies before allows), then the member's own. */
export function channelPermissions(
  base: bigint,
  channel: Channel,
  guildId: string,
  member: Member | undefined,
  userId: string,
): bigint {
  if (has(base, P.ADMINISTRATOR) || base === ALL) return base;
  let value = base;
  const overwrites = channel.permission_overwrites ?? [];
  const everyone = overwrites.find((o) => o.id === guildId);
  if (everyone) value = (value & ~bits(everyone.deny)) | bits(everyone.allow);
  let deny = 0n;
  let allow = 0n;
  for (const o of overwrites) {
    if (o.type === 0 && member?.roles.includes(o.id)) {
      deny |= bits(o.deny);
      allow |= bits(o.allow);
    }
  }
  value = (value & ~deny) | allow;
  const own = overwrites.find((o) => o.type === 1 && o.id === userId);
  if (own) value = (value & ~bits(own.deny)) | bits(own.allow);
  return value;
}

export function colorHex(color: number): string {
  return `#${color.toString(16).padStart(6, "0")}`;
}
