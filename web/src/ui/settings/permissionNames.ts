/** Permission bits by the names people read, for the settings pages. */
import type { PermissionName } from "../../permissions";

/** The bits a settings page offers, grouped and named as people read them. Channel
 * overwrites offer only the bits that mean something on a channel. */
export const PERMISSION_GROUPS: { title: string; items: { bit: PermissionName; label: string; channel: boolean }[] }[] = [
  {
    title: "General",
    items: [
      { bit: "ADMINISTRATOR", label: "Administrator (every permission, every channel)", channel: false },
      { bit: "VIEW_CHANNEL", label: "View channels", channel: true },
      { bit: "MANAGE_CHANNELS", label: "Manage channels", channel: true },
      { bit: "MANAGE_ROLES", label: "Manage roles and permissions", channel: true },
      { bit: "MANAGE_GUILD", label: "Manage server", channel: false },
      { bit: "MANAGE_GUILD_EXPRESSIONS", label: "Manage emoji", channel: false },
      { bit: "VIEW_AUDIT_LOG", label: "View audit log", channel: false },
      { bit: "CREATE_INSTANT_INVITE", label: "Create invites", channel: true },
      { bit: "CHANGE_NICKNAME", label: "Change own nickname", channel: false },
      { bit: "MANAGE_NICKNAMES", label: "Manage nicknames", channel: false },
    ],
  },
  {
    title: "Members",
    items: [
      { bit: "KICK_MEMBERS", label: "Kick members", channel: false },
      { bit: "BAN_MEMBERS", label: "Ban members", channel: false },
      { bit: "MODERATE_MEMBERS", label: "Time out members", channel: false },
    ],
  },
  {
    title: "Text",
    items: [
      { bit: "SEND_MESSAGES", label: "Send messages", channel: true },
      { bit: "EMBED_LINKS", label: "Embed links", channel: true },
      { bit: "ATTACH_FILES", label: "Attach files", channel: true },
      { bit: "ADD_REACTIONS", label: "Add reactions", channel: true },
      { bit: "USE_EXTERNAL_EMOJIS", label: "Use other servers' emoji", channel: true },
      { bit: "MENTION_EVERYONE", label: "Mention @everyone and all roles", channel: true },
      { bit: "MANAGE_MESSAGES", label: "Manage messages", channel: true },
      { bit: "PIN_MESSAGES", label: "Pin messages", channel: true },
      { bit: "READ_MESSAGE_HISTORY", label: "Read message history", channel: true },
    ],
  },
  {
    title: "Voice",
    items: [
      { bit: "CONNECT", label: "Connect", channel: true },
      { bit: "SPEAK", label: "Speak", channel: true },
      { bit: "USE_VAD", label: "Use voice activity", channel: true },
      { bit: "PRIORITY_SPEAKER", label: "Priority speaker", channel: true },
      { bit: "MUTE_MEMBERS", label: "Mute members", channel: true },
      { bit: "DEAFEN_MEMBERS", label: "Deafen members", channel: true },
      { bit: "MOVE_MEMBERS", label: "Move members", channel: true },
    ],
  },
];

