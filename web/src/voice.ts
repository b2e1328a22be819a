/**
 * Voice in the browser: WebRTC to the media node's bridge (media/src/spectrus_media/bridge.py).
 *
 * Joining: gateway op 4 places us in the channel and VOICE_SERVER_UPDATE answers with
 * a token and the node's endpoint; the offer (with the same credentials a native client
 * sends in IDENTIFY) goes to `https://<endpoint>/webrtc` and the answer comes back at
 * once, ICE candidates included (no trickle: the offer is sent once gathering is done).
 *
 * Transceivers: the first one carries our microphone to the room; each one also brings
 * one speaker of the room back (a *slot*), so offering SLOTS of them lets that many
 * people talk at once. The `voice` data channel says which user is on which slot
 * (`slot` messages) and relays the room's voice events.
 *
 * Playback is one <audio> element per slot (its volume is the per-user volume, muted
 * when deafened): Chromium renders a remote WebRTC track, and counts its audio in
 * getStats, only when a media element plays it. Speaking rings come from WebRTC's own
 * energy counters (totalAudioEnergy over totalSamplesDuration, for the microphone's
 * media-source and each slot's inbound-rtp), polled five times a second: an average over
 * the interval, so short sounds are not missed as a sampled analyser would miss them.
 */
import { addDispatchListener, currentGateway } from "./client";
import { store } from "./store";

const SLOTS = 4;
const SPEAKING_LEVEL = 0.01; // RMS of a speaking voice is well above room noise
const SPEAKING_HOLD_MS = 350;
const VOLUME_KEY = "spectrus.voiceVolume";

export type VoicePhase = "idle" | "joining" | "connecting" | "connected" | "failed";

interface Slot {
  index: number;
  userId: string | null;
  element: HTMLAudioElement;
}

/** The fields of a getStats() entry the meter reads. */
interface AudioStat {
  type: string;
  kind?: string;
  totalAudioEnergy?: number;
  totalSamplesDuration?: number;
}

/** Running totals of a stats entry, to take differences of. */
interface Energy {
  energy: number;
  duration: number;
}

export interface VoiceServer {
  token: string;
  guild_id: string;
  endpoint: string | null;
}

class VoiceClient {
  phase: VoicePhase = "idle";
  guildId: string | null = null;
  channelId: string | null = null;
  muted = false;
  deafened = false;
  error = "";
  /** user id -> last time their audio was loud enough (ms). */
  speaking = new Map<string, number>();
  volumes: Record<string, number> = loadVolumes();

  private pc: RTCPeerConnection | null = null;
  private mic: MediaStream | null = null;
  private slots: Slot[] = [];
  private energies = new Map<string, Energy>();
  private meter: ReturnType<typeof setInterval> | null = null;
  private waiting: ((server: VoiceServer) => void) | null = null;

  /** Join a voice channel (or move to another one of the same guild). */
  async join(guildId: string, channelId: string): Promise<void> {
    const gateway = currentGateway();
    if (!gateway || store.status !== "ready") {
      store.toast("Not connected: voice needs the gateway.");
      return;
    }
    if (this.guildId === guildId && this.pc && this.channelId !== channelId) {
      // A move keeps the voice connection, as Discord's clients expect.
      this.channelId = channelId;
      gateway.voiceState(guildId, channelId, this.muted, this.deafened);
      this.changed();
      return;
    }
    if (this.guildId) this.leave();
    this.guildId = guildId;
    this.channelId = channelId;
    this.phase = "joining";
    this.error = "";
    this.changed();
    try {
      // Asked first: without a microphone there is no point in a placement.
      this.mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
      const server = new Promise<VoiceServer>((resolve, reject) => {
        this.waiting = resolve;
        setTimeout(() => reject(new Error("no voice server was assigned")), 10_000);
      });
      gateway.voiceState(guildId, channelId, this.muted, this.deafened);
      const placed = await server;
      if (!placed.endpoint) throw new Error("the voice server is not available");
      this.phase = "connecting";
      this.changed();
      await this.connect(placed, gateway.sessionIdentity ?? "");
    } catch (error) {
      this.fail(error);
    }
  }

  leave(): void {
    const guildId = this.guildId;
    this.teardown();
    this.phase = "idle";
    this.guildId = null;
    this.channelId = null;
    if (guildId) currentGateway()?.voiceState(guildId, null, false, false);
    this.changed();
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    if (!muted && this.deafened) this.deafened = false; // speaking again means hearing again
    this.apply(true);
  }

  setDeafened(deafened: boolean): void {
    this.deafened = deafened;
    this.apply(true);
  }

  setVolume(userId: string, volume: number): void {
    this.volumes = { ...this.volumes, [userId]: volume };
    try {
      localStorage.setItem(VOLUME_KEY, JSON.stringify(this.volumes));
    } catch {
      // Kept for this page only.
    }
    this.apply();
  }

  isSpeaking(userId: string): boolean {
    return Date.now() - (this.speaking.get(userId) ?? 0) < SPEAKING_HOLD_MS;
  }

  /** The gateway's VOICE_SERVER_UPDATE and our own VOICE_STATE_UPDATEs. */
  onDispatch(event: string, data: unknown): void {
    if (event === "VOICE_SERVER_UPDATE") {
      const server = data as VoiceServer;
      if (server.guild_id !== this.guildId) return;
      if (this.waiting) {
        this.waiting(server);
        this.waiting = null;
      } else if (this.pc) {
        // The guild's voice moved to another node: connect there.
        this.teardown();
        this.phase = "connecting";
        this.changed();
        this.connect(server, currentGateway()?.sessionIdentity ?? "").catch((e) => this.fail(e));
      }
    } else if (event === "SPECTRUS_SESSION_END") {
      this.leaveLocally();
    } else if (event === "VOICE_STATE_UPDATE") {
      const state = data as { user_id: string; guild_id?: string; channel_id: string | null };
      if (state.user_id === store.me?.id && state.guild_id === this.guildId && !state.channel_id) {
        if (this.phase !== "joining") this.leaveLocally(); // moved out or disconnected by a moderator
      }
    }
  }

  /** For the end-to-end test and the diagnostics view: WebRTC's own counters. */
  async stats(): Promise<{ slot: number; userId: string | null; packets: number; energy: number; level: number }[]> {
    if (!this.pc) return [];
    const out = [];
    for (const [index, transceiver] of this.pc.getTransceivers().entries()) {
      const report = await transceiver.receiver.getStats();
      let packets = 0;
      let energy = 0;
      let level = 0;
      report.forEach((s: { type: string; packetsReceived?: number; totalAudioEnergy?: number; audioLevel?: number }) => {
        if (s.type === "inbound-rtp") {
          packets += s.packetsReceived ?? 0;
          energy += s.totalAudioEnergy ?? 0;
          level = Math.max(level, s.audioLevel ?? 0);
        }
      });
      out.push({ slot: index, userId: this.slots[index]?.userId ?? null, packets, energy, level });
    }
    return out;
  }

  private async connect(server: VoiceServer, sessionId: string): Promise<void> {
    const me = store.me;
    if (!me || !this.mic || !this.guildId) throw new Error("not signed in");
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    const channel = pc.createDataChannel("voice");
    channel.onmessage = (event) => this.onVoiceMessage(String(event.data));
    const micTrack = this.mic.getAudioTracks()[0]!;
    pc.addTransceiver(micTrack, { direction: "sendrecv", streams: [this.mic] });
    for (let i = 1; i < SLOTS; i++) pc.addTransceiver("audio", { direction: "recvonly" });
    this.slots = pc.getTransceivers().map((t, index) => this.makeSlot(t.receiver.track, index));
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "connected") {
        this.phase = "connected";
        this.changed();
      } else if (pc.connectionState === "failed") this.fail(new Error("the voice connection failed"));
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringDone(pc);
    const response = await fetch(`https://${server.endpoint}/webrtc`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        server_id: server.guild_id,
        user_id: me.id,
        session_id: sessionId,
        token: server.token,
        type: "offer",
        sdp: pc.localDescription!.sdp,
      }),
    });
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { message?: string };
      throw new Error(body.message ?? `the voice server answered ${response.status}`);
    }
    const answer = (await response.json()) as RTCSessionDescriptionInit;
    if (pc !== this.pc) return; // left meanwhile
    await pc.setRemoteDescription(answer);
    this.apply();
    this.meter = setInterval(() => void this.measure(), 200);
  }

  private makeSlot(track: MediaStreamTrack, index: number): Slot {
    const element = new Audio();
    element.autoplay = true;
    element.srcObject = new MediaStream([track]);
    void element.play().catch(() => {});
    return { index, userId: null, element };
  }

  private onVoiceMessage(text: string): void {
    let message: { op: number | string; d: Record<string, unknown> };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.op === "slot") {
      const slot = this.slots[Number(message.d.slot)];
      if (slot) slot.userId = (message.d.user_id as string | null) ?? null;
      this.apply();
    } else if (message.op === "close") {
      this.fail(new Error(String(message.d.reason ?? "the voice server closed the connection")));
    }
  }

  /** Mute, deafen and volumes onto the tracks and gains; `announce` tells the gateway. */
  private apply(announce = false): void {
    const track = this.mic?.getAudioTracks()[0];
    if (track) track.enabled = !this.muted && !this.deafened;
    for (const slot of this.slots) {
      slot.element.volume = Math.min(1, Math.max(0, slot.userId ? (this.volumes[slot.userId] ?? 1) : 1));
      slot.element.muted = this.deafened;
    }
    if (announce && this.guildId && this.channelId) {
      currentGateway()?.voiceState(this.guildId, this.channelId, this.muted || this.deafened, this.deafened);
    }
    this.changed();
  }

  /** Whether the audio counted under `key` since the last poll was loud enough. */
  private loud(key: string, stat: AudioStat): boolean {
    const now = { energy: stat.totalAudioEnergy ?? 0, duration: stat.totalSamplesDuration ?? 0 };
    const before = this.energies.get(key);
    this.energies.set(key, now);
    if (!before || now.duration <= before.duration) return false;
    return Math.sqrt((now.energy - before.energy) / (now.duration - before.duration)) > SPEAKING_LEVEL;
  }

  private async measure(): Promise<void> {
    const pc = this.pc;
    const me = store.me?.id;
    if (!pc || !me) return;
    const now = Date.now();
    const was = new Set([...this.speaking.keys()].filter((id) => this.isSpeaking(id)));
    const transceivers = pc.getTransceivers();
    const sender = transceivers[0]?.sender;
    if (sender) {
      let on = false;
      (await sender.getStats()).forEach((stat: AudioStat) => {
        if (stat.type === "media-source" && stat.kind === "audio") on = this.loud("mic", stat);
      });
      if (on && !this.muted && !this.deafened) this.speaking.set(me, now);
    }
    for (const [index, transceiver] of transceivers.entries()) {
      const userId = this.slots[index]?.userId;
      let on = false;
      (await transceiver.receiver.getStats()).forEach((stat: AudioStat) => {
        if (stat.type === "inbound-rtp") on = this.loud(`slot${index}`, stat);
      });
      if (on && userId) this.speaking.set(userId, now);
    }
    if (pc !== this.pc) return;
    const is = new Set([...this.speaking.keys()].filter((id) => this.isSpeaking(id)));
    if (is.size !== was.size || [...is].some((id) => !was.has(id))) this.changed();
  }

  private fail(error: unknown): void {
    const guildId = this.guildId;
    this.teardown();
    this.phase = "failed";
    this.error = error instanceof Error ? error.message : String(error);
    if (guildId) currentGateway()?.voiceState(guildId, null, false, false);
    this.guildId = null;
    this.channelId = null;
    store.toast(`Voice: ${this.error}`);
    this.changed();
  }

  private leaveLocally(): void {
    this.teardown();
    this.phase = "idle";
    this.guildId = null;
    this.channelId = null;
    this.changed();
  }

  private teardown(): void {
    this.waiting = null;
    if (this.meter) clearInterval(this.meter);
    this.meter = null;
    for (const slot of this.slots) {
      slot.element.pause();
      slot.element.srcObject = null;
    }
    this.slots = [];
    this.pc?.close();
    this.pc = null;
    this.mic?.getTracks().forEach((t) => t.stop());
    this.mic = null;
    this.energies.clear();
    this.speaking.clear();
  }

  private changed(): void {
    store.changed();
  }
}

function loadVolumes(): Record<string, number> {
  try {
    return JSON.parse(localStorage.getItem(VOLUME_KEY) ?? "{}") as Record<string, number>;
  } catch {
    return {};
  }
}

function gatheringDone(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000); // host candidates come at once; don't wait on others forever
  });
}

export const voice = new VoiceClient();
addDispatchListener((event, data) => voice.onDispatch(event, data));

// The end-to-end test reads WebRTC's counters through this (no other global exists).
(window as unknown as { spectrusVoiceStats?: () => ReturnType<VoiceClient["stats"]> }).spectrusVoiceStats =
  () => voice.stats();
