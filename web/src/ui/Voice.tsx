/** Voice channels in the sidebar: who is in each (speaking rings, mute and deafen marks,
 * per-user volume up to 200% for those one hears), and the panel of one's own
 * connection (mute, deafen, push-to-talk, voice settings, leave). */
import { useState } from "preact/hooks";
import { store, type GuildState } from "../store";
import { MAX_VOLUME, voice } from "../voice";
import { Avatar } from "./MessageView";
import { Gear, Headphones, HeadphonesOff, Mic, MicOff, PhoneOff } from "./icons";
import type { Overlay } from "./settings/types";

function VolumeControl({ userId, name }: { userId: string; name: string }) {
  const value = Math.round((voice.volumes[userId] ?? 1) * 100);
  return (
    <label class="volume">
      <span class="sr-only">Volume of {name}</span>
      <input
        type="range"
        min={0}
        max={MAX_VOLUME * 100}
        step={5}
        value={value}
        aria-label={`Volume of ${name}`}
        onInput={(e) => voice.setVolume(userId, Number(e.currentTarget.value) / 100)}
      />
      <span class="volume-value">{value}%</span>
    </label>
  );
}

export function VoiceUsers({ g, channelId }: { g: GuildState; channelId: string }) {
  const [open, setOpen] = useState<string | null>(null);
  const here = [...g.voice.values()].filter((v) => v.channel_id === channelId);
  if (!here.length) return null;
  const listening = voice.channelId === channelId && voice.phase === "connected";
  return (
    <ul class="voice-users" aria-label="In this voice channel">
      {here.map((v) => {
        const user = g.members.get(v.user_id)?.user ?? v.member?.user;
        if (!user) return null;
        const name = store.displayName(user, g.guild.id);
        const speaking = voice.channelId === channelId && voice.isSpeaking(v.user_id);
        const muted = v.self_mute || v.mute;
        const deaf = v.self_deaf || v.deaf;
        const mine = v.user_id === store.me?.id;
        return (
          <li key={v.user_id} class={speaking ? "speaking" : ""} data-user={v.user_id} data-speaking={speaking}>
            <button
              type="button"
              class="voice-user"
              aria-expanded={listening && !mine ? open === v.user_id : undefined}
              disabled={!listening || mine}
              onClick={() => setOpen(open === v.user_id ? null : v.user_id)}
            >
              <Avatar user={user} size={20} />
              <span class="name">{name}</span>
              <span class="state" aria-label={deaf ? "deafened" : muted ? "muted" : undefined}>
                {deaf ? <HeadphonesOff size={14} /> : muted ? <MicOff size={14} /> : null}
              </span>
            </button>
            {open === v.user_id && listening && !mine ? <VolumeControl userId={v.user_id} name={name} /> : null}
          </li>
        );
      })}
    </ul>
  );
}

export function VoicePanel({ openOverlay }: { openOverlay: (o: Overlay) => void }) {
  if (voice.phase === "idle" || !voice.guildId || !voice.channelId) return null;
  const ptt = voice.settings.mode === "ptt";
  const g = store.guilds.get(voice.guildId);
  const channel = g?.channels.find((c) => c.id === voice.channelId);
  const label =
    voice.phase === "connected" ? "Voice connected" : voice.phase === "failed" ? "Voice failed" : "Connecting…";
  return (
    <div
      class="voice-panel"
      role="region"
      aria-label="Voice connection"
      data-phase={voice.phase}
      data-transmitting={voice.transmitting}
      data-mode={voice.settings.mode}
    >
      <div class="where">
        <div class={`state ${voice.phase === "connected" ? "" : "connecting"}`}>
          <span class={voice.transmitting ? "tx on" : "tx"} aria-hidden="true" />
          {label}
        </div>
        <div class="channel-label">
          {channel?.name} / {g?.guild.name}
        </div>
      </div>
      <div class="voice-panel-row">
        <button
          type="button"
          class="icon-button"
          aria-pressed={voice.muted}
          aria-label={voice.muted ? "Unmute" : "Mute"}
          title={voice.muted ? "Unmute" : "Mute"}
          onClick={() => voice.setMuted(!voice.muted)}
        >
          {voice.muted ? <MicOff /> : <Mic />}
        </button>
        <button
          type="button"
          class="icon-button"
          aria-pressed={voice.deafened}
          aria-label={voice.deafened ? "Undeafen" : "Deafen"}
          title={voice.deafened ? "Undeafen" : "Deafen"}
          onClick={() => voice.setDeafened(!voice.deafened)}
        >
          {voice.deafened ? <HeadphonesOff /> : <Headphones />}
        </button>
        <button
          type="button"
          class="icon-button"
          aria-label="Voice settings"
          title="Voice settings"
          onClick={() => openOverlay({ kind: "user" })}
        >
          <Gear />
        </button>
        <button type="button" class="icon-button hangup" aria-label="Leave voice" title="Leave voice" onClick={() => voice.leave()}>
          <PhoneOff />
        </button>
      </div>
      {ptt ? (
        <button
          type="button"
          class={`ptt-button${voice.pttHeld ? " held" : ""}`}
          aria-pressed={voice.pttHeld}
          onPointerDown={(e) => {
            e.currentTarget.setPointerCapture(e.pointerId);
            voice.setPushToTalk(true);
          }}
          onPointerUp={() => voice.setPushToTalk(false)}
          onPointerCancel={() => voice.setPushToTalk(false)}
        >
          Push to talk <kbd>{voice.settings.pttLabel}</kbd>
        </button>
      ) : null}
    </div>
  );
}

export function joinVoice(guildId: string, channelId: string): void {
  if (voice.channelId === channelId && voice.phase !== "failed") return;
  void voice.join(guildId, channelId);
}
