/**
 * The parts of Discord's v10 object shapes the client reads. Spectrus sends the full
 * shapes; fields the client ignores are left out here rather than typed loosely.
 */

export type Snowflake = string;

export interface User {
  id: Snowflake;
  username: string;
  global_name: string | null;
  avatar: string | null;
  bot?: boolean;
  /** Bit 0 (STAFF) marks the instance's admins. */
  flags?: number;
}

export interface Role {
  id: Snowflake;
  name: string;
  color: number;
  position: number;
  permissions: string;
  hoist: boolean;
  mentionable: boolean;
}

export interface Member {
  user?: User;
  nick: string | null;
  roles: Snowflake[];
  joined_at: string;
  communication_disabled_until?: string | null;
}

export interface Overwrite {
  id: Snowflake;
  type: number;
  allow: string;
  deny: string;
}

export const CHANNEL_TEXT = 0;
export const CHANNEL_DM = 1;
export const CHANNEL_VOICE = 2;
export const CHANNEL_GROUP_DM = 3;
export const CHANNEL_CATEGORY = 4;

export interface Channel {
  id: Snowflake;
  type: number;
  guild_id?: Snowflake;
  name?: string | null;
  position?: number;
  parent_id?: Snowflake | null;
  topic?: string | null;
  last_message_id?: Snowflake | null;
  permission_overwrites?: Overwrite[];
  recipients?: User[];
  user_limit?: number;
}

export interface Emoji {
  id: Snowflake | null;
  name: string | null;
  animated?: boolean;
  available?: boolean;
}

export interface VoiceState {
  guild_id?: Snowflake;
  channel_id: Snowflake | null;
  user_id: Snowflake;
  session_id?: string;
  self_mute: boolean;
  self_deaf: boolean;
  mute: boolean;
  deaf: boolean;
  member?: Member;
}

export interface Presence {
  user: { id: Snowflake };
  status: string;
  guild_id?: Snowflake;
}

export interface Guild {
  id: Snowflake;
  name: string;
  icon: string | null;
  owner_id: Snowflake;
  roles: Role[];
  emojis: Emoji[];
  system_channel_id: Snowflake | null;
  channels?: Channel[];
  members?: Member[];
  voice_states?: VoiceState[];
  presences?: Presence[];
  member_count?: number;
  unavailable?: boolean;
}

export interface Attachment {
  id: Snowflake;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type?: string;
  width?: number | null;
  height?: number | null;
}

export interface Embed {
  type?: string;
  title?: string;
  description?: string;
  url?: string;
  color?: number;
  provider?: { name?: string };
  author?: { name?: string };
  footer?: { text: string };
  thumbnail?: { url: string; proxy_url?: string; width?: number; height?: number };
  image?: { url: string; proxy_url?: string; width?: number; height?: number };
}

export interface Reaction {
  count: number;
  me: boolean;
  emoji: Emoji;
}

export interface Message {
  id: Snowflake;
  channel_id: Snowflake;
  guild_id?: Snowflake;
  author: User;
  member?: Member;
  content: string;
  timestamp: string;
  edited_timestamp: string | null;
  mentions: User[];
  mention_roles: Snowflake[];
  mention_everyone: boolean;
  attachments: Attachment[];
  embeds: Embed[];
  reactions?: Reaction[];
  nonce?: string | number | null;
  type: number;
  message_reference?: { message_id?: Snowflake; channel_id?: Snowflake };
  referenced_message?: Message | null;
  pinned?: boolean;
}

export interface Ban {
  user: User;
  reason: string | null;
}

export interface InviteFull extends Invite {
  uses?: number;
  max_uses?: number;
  max_age?: number;
  created_at?: string;
}

export interface AuditEntry {
  id: Snowflake;
  user_id: Snowflake | null;
  target_id: Snowflake | null;
  action_type: number;
  changes?: { key: string; old_value?: unknown; new_value?: unknown }[];
  options?: Record<string, string>;
  reason?: string | null;
}

export interface AuditLog {
  audit_log_entries: AuditEntry[];
  users: User[];
}

export interface SearchResult {
  total_results: number;
  messages: Message[][];
}

export interface Invite {
  code: string;
  guild?: { id: Snowflake; name: string; icon: string | null };
  channel?: { id: Snowflake; name: string; type: number };
  inviter?: User;
  approximate_member_count?: number;
  expires_at?: string | null;
}

export interface ReadStateEntry {
  id: Snowflake;
  last_message_id: Snowflake | null;
  mention_count: number;
}

export interface Ready {
  user: User;
  session_id: string;
  resume_gateway_url: string;
  guilds: { id: Snowflake; unavailable?: boolean }[];
  private_channels: Channel[];
  read_state?: { entries: ReadStateEntry[] };
}

export interface TokenPair {
  token: string;
  refresh_token: string;
  user_id: Snowflake;
}
