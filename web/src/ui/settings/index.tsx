/**
 * The settings layer: a full-window dialog with a section list on the left. It holds a
 * guild's administration (overview, roles, channels and their permission overwrites,
 * emoji, members, invites, bans, audit log), one's own settings (voice and audio,
 * appearance, account), and the instance's diagnostics for its admins.
 *
 * This file and the sections it imports are one chunk, fetched when first opened.
 * Every action goes to the API, which checks permissions itself; the lists follow the
 * gateway's events (roles, channels, members) or refetch after an action.
 */
import type { ComponentChildren } from "preact";
import { useEffect } from "preact/hooks";
import { store } from "../../store";
import { X } from "../icons";
import { useModalDialog } from "../Modal";
import { AuditLogView } from "./Audit";
import { ChannelsSection } from "./Channels";
import { DiagView } from "./Diag";
import { EmojiSection } from "./Emoji";
import { MembersSection } from "./Members";
import { BansSection, InvitesSection } from "./Moderation";
import { OverviewSection } from "./Overview";
import { ProfileSection } from "./Profile";
import { RolesSection } from "./Roles";
import type { GuildSection, Overlay } from "./types";
import { UserSettings } from "./User";
import { P, has } from "../../permissions";
import "./settings.css";

interface SectionDef {
  id: GuildSection;
  title: string;
  allowed: (perms: bigint) => boolean;
}

const any = (...list: bigint[]) => (perms: bigint) => list.some((bit) => has(perms, bit));

const GUILD_SECTIONS: SectionDef[] = [
  { id: "profile", title: "My server profile", allowed: any(P.CHANGE_NICKNAME) },
  { id: "overview", title: "Overview", allowed: any(P.MANAGE_GUILD) },
  { id: "roles", title: "Roles", allowed: any(P.MANAGE_ROLES) },
  { id: "channels", title: "Channels", allowed: any(P.MANAGE_CHANNELS, P.MANAGE_ROLES) },
  { id: "emoji", title: "Emoji", allowed: any(P.MANAGE_GUILD_EXPRESSIONS) },
  { id: "members", title: "Members", allowed: any(P.KICK_MEMBERS, P.BAN_MEMBERS, P.MODERATE_MEMBERS, P.MANAGE_ROLES) },
  { id: "invites", title: "Invites", allowed: any(P.MANAGE_GUILD) },
  { id: "bans", title: "Bans", allowed: any(P.BAN_MEMBERS) },
  { id: "audit", title: "Audit log", allowed: any(P.VIEW_AUDIT_LOG) },
];

function Layer({
  title,
  label,
  nav,
  onClose,
  children,
}: {
  title: string;
  label: string;
  nav: ComponentChildren;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const { ref, onCancel } = useModalDialog(onClose);
  return (
    <dialog ref={ref} class="settings-layer" aria-label={label} onCancel={onCancel}>
      <div class="settings-shell">
        <nav class="settings-nav" aria-label={`${label} sections`}>
          <div class="settings-nav-title">{title}</div>
          {nav}
        </nav>
        <div class="settings-main">
          <button type="button" class="icon-button settings-close" aria-label="Close settings" title="Close (Escape)" onClick={onClose}>
            <X />
          </button>
          <div class="settings-content">{children}</div>
        </div>
      </div>
    </dialog>
  );
}

function GuildSettings({
  guildId,
  initial,
  channelId,
  onSection,
  onClose,
}: {
  guildId: string;
  initial: GuildSection | undefined;
  channelId: string | undefined;
  onSection: (section: GuildSection) => void;
  onClose: () => void;
}) {
  const g = store.guilds.get(guildId);
  const perms = store.permissions(guildId);
  const sections = GUILD_SECTIONS.filter((s) => s.allowed(perms));
  // The section is the address's (see settingsRoute.ts); one not allowed shows the first.
  const section: GuildSection =
    initial && sections.some((s) => s.id === initial) ? initial : (sections[0]?.id ?? "overview");
  const setSection = onSection;
  useEffect(() => {
    if (!g) onClose(); // left or removed from the guild meanwhile
  });
  if (!g) return null;
  const nav = sections.map((s) => (
    <button
      type="button"
      key={s.id}
      class="settings-tab"
      aria-current={section === s.id ? "page" : undefined}
      data-section={s.id}
      onClick={() => setSection(s.id)}
    >
      {s.title}
    </button>
  ));
  return (
    <Layer title={g.guild.name} label="Server settings" nav={nav} onClose={onClose}>
      {section === "profile" ? <ProfileSection g={g} /> : null}
      {section === "overview" ? <OverviewSection g={g} /> : null}
      {section === "roles" ? <RolesSection g={g} /> : null}
      {section === "channels" ? <ChannelsSection key={channelId} g={g} initialChannel={channelId} /> : null}
      {section === "emoji" ? <EmojiSection g={g} /> : null}
      {section === "members" ? <MembersSection g={g} /> : null}
      {section === "invites" ? <InvitesSection g={g} /> : null}
      {section === "bans" ? <BansSection g={g} /> : null}
      {section === "audit" ? <AuditLogView g={g} /> : null}
    </Layer>
  );
}

export function SettingsOverlay({
  overlay,
  onChange,
  onClose,
}: {
  overlay: Overlay;
  onChange: (overlay: Overlay) => void;
  onClose: () => void;
}) {
  if (overlay.kind === "guild") {
    return (
      <GuildSettings
        guildId={overlay.guildId}
        initial={overlay.section}
        channelId={overlay.channelId}
        onSection={(section) => onChange({ kind: "guild", guildId: overlay.guildId, section })}
        onClose={onClose}
      />
    );
  }
  if (overlay.kind === "diag") {
    const nav = (
      <button type="button" class="settings-tab" aria-current="page">
        Diagnostics
      </button>
    );
    return (
      <Layer title="Instance" label="Instance diagnostics" nav={nav} onClose={onClose}>
        <DiagView />
      </Layer>
    );
  }
  return <UserSettings Layer={Layer} section={overlay.section} onSection={(section) => onChange({ kind: "user", section })} onClose={onClose} />;
}

export type LayerComponent = typeof Layer;
