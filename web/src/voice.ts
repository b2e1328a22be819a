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
 * Playback is one <audio> element per slot, at the per-user volume up to 100% (muted when
 * deafened): Chromium renders a remote WebRTC track, and counts its audio in getStats,
 * only while a media element plays it, and the counters measure what it plays. Past
 * 100% (up to 200%) the element falls silent and the slot plays through a Web Audio
 * GainNode instead. The output device is the elements' and the AudioContext's sink.
 *
 * Sending: the microphone track is enabled only while one transmits. In voice-activity
 * mode an analyser on a copy of the track opens the gate above a threshold (held open a
 * moment after); in push-to-talk mode a key (or the panel's button) holds it open.
 * Mute and deafen close it whatever the mode.
 *
 * Speaking rings: analysers on copies of each slot's track and of the microphone,
 * read every 40 ms over windows of 43 ms (nothing is missed between two reads), so
 * they do not depend on anyone's volume; one's own ring lights only while transmitting.
 */
import { addDispatchListener, currentGateway } from "./client";
import { store } from "./store";

const SLOTS = 4;
const SPEAKING_LEVEL = 0.01; // RMS of a speaking voice is well above room noise
const SPEAKING_HOLD_MS = 350;
const ANALYSER_SIZE = 2048; // 43 ms at 48 kHz: longer than the poll, so reads overlap
const VOLUME_KEY = "spectrus.voiceVolume";
const SETTINGS_KEY = "spectrus.voiceSettings";
export const MAX_VOLUME = 2; // 200%
const GATE_POLL_MS = 40;
const VAD_HOLD_MS = 400; // keeps the ends of words
const PTT_RELEASE_MS = 150;

export interface VoiceSettings {
  mode: "vad" | "ptt";
  /** KeyboardEvent.code of the push-to-talk key, and how to show it. */
  pttKey: string;
  pttLabel: string;
  /** Voice activity opens above this input level (dBFS). */
  threshold: number;
  inputId: string;
  outputId: string;
}

const DEFAULT_SETTINGS: VoiceSettings = {
  mode: "vad",
  pttKey: "Backquote",
  pttLabel: "`",
  threshold: -50,
  inputId: "",
  outputId: "",
};

export interface Devices {
  inputs: { id: string; label: string }[];
  outputs: { id: string; label: string }[];
  /** The AudioContext can choose its output (Chromium 110+). */
  canChooseOutput: boolean;
}

type SinkContext = AudioContext & { setSinkId?: (id: string) => Promise<void> };

export type VoicePhase = "idle" | "joining" | "connecting" | "connected" | "failed";

type SinkElement = HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };

/** An analyser on a copy of a track (the copy is stopped with it). */
interface Meter {
  copy: MediaStreamTrack;
  analyser: AnalyserNode;
  buffer: Float32Array<ArrayBuffer>;
}

interface Slot {
  index: number;
  userId: string | null;
  element: SinkElement;
  /** Past 100%: the slot plays through this instead of the element. */
  boost: GainNode | null;
  meter: Meter | null;
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
  settings: VoiceSettings = loadSettings();
  /** Whether the microphone goes out now (gate open, not muted). */
  transmitting = false;
  /** The microphone's level (dBFS), for the settings' meter. */
  inputLevel = -100;
  pttHeld = false;

  private pc: RTCPeerConnection | null = null;
  private mic: MediaStream | null = null;
  private audio: SinkContext | null = null;
  private micMeter: Meter | null = null;
  private clock: ReturnType<typeof setInterval> | null = null;
  private vadUntil = 0;
  private pttUntil = 0;
  private slots: Slot[] = [];
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
      // Made while the click that joined still counts as a gesture (autoplay rules).
      this.audio = new AudioContext() as SinkContext;
      void this.applyOutput();
      // Asked first: without a microphone there is no point in a placement.
      this.mic = await openMicrophone(this.settings.inputId);
      this.startClock();
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
    this.volumes = { ...this.volumes, [userId]: Math.min(MAX_VOLUME, Math.max(0, volume)) };
    try {
      localStorage.setItem(VOLUME_KEY, JSON.stringify(this.volumes));
    } catch {
      // Kept for this page only.
    }
    this.apply();
  }

  /** Change and keep settings; a new input device is switched to at once, mid-call too. */
  async configure(change: Partial<VoiceSettings>): Promise<void> {
    const inputChanged = change.inputId !== undefined && change.inputId !== this.settings.inputId;
    const outputChanged = change.outputId !== undefined && change.outputId !== this.settings.outputId;
    this.settings = { ...this.settings, ...change };
    try {
      localStorage.setItem(SETTINGS_KEY, JSON.stringify(this.settings));
    } catch {
      // Kept for this page only.
    }
    this.pttHeld = false;
    if (outputChanged) await this.applyOutput();
    if (inputChanged && this.mic) await this.switchInput();
    this.apply();
  }

  /** Microphones and speakers (names appear once microphone access was granted). */
  async devices(): Promise<Devices> {
    const all = await navigator.mediaDevices.enumerateDevices();
    const list = (kind: MediaDeviceKind) =>
      all
        .filter((d) => d.kind === kind && d.deviceId)
        .map((d, i) => ({ id: d.deviceId, label: d.label || `${kind === "audioinput" ? "Microphone" : "Speaker"} ${i + 1}` }));
    return {
      inputs: list("audioinput"),
      outputs: list("audiooutput"),
      canChooseOutput: typeof (AudioContext.prototype as SinkContext).setSinkId === "function",
    };
  }

  /** Push to talk from the panel's button (touch screens) or the key. */
  setPushToTalk(held: boolean): void {
    if (held) this.pttHeld = true;
    else {
      this.pttHeld = false;
      this.pttUntil = Date.now() + PTT_RELEASE_MS;
    }
    this.updateGate();
  }

  /** What the gate does, for the tests (through window.spectrusVoiceState). */
  state(): { transmitting: boolean; inputLevel: number; mode: string; input: string } {
    return {
      transmitting: this.transmitting,
      inputLevel: this.inputLevel,
      mode: this.settings.mode,
      input: this.inputInUse(),
    };
  }

  /** The id of the microphone in use (for the settings' check mark and the tests). */
  inputInUse(): string {
    return this.mic?.getAudioTracks()[0]?.getSettings().deviceId ?? "";
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
  async stats(): Promise<
    { slot: number; userId: string | null; packets: number; energy: number; level: number; gain: number }[]
  > {
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
      const slot = this.slots[index];
      const gain = slot ? (slot.element.muted ? 0 : slot.element.volume) + (slot.boost?.gain.value ?? 0) : 0;
      out.push({ slot: index, userId: this.slots[index]?.userId ?? null, packets, energy, level, gain });
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
  }

  private makeSlot(track: MediaStreamTrack, index: number): Slot {
    const element: SinkElement = new Audio();
    element.autoplay = true;
    element.srcObject = new MediaStream([track]);
    if (this.settings.outputId) element.setSinkId?.(this.settings.outputId).catch(() => {});
    void element.play().catch(() => {});
    let boost: GainNode | null = null;
    let meter: Meter | null = null;
    if (this.audio) {
      meter = this.makeMeter(track);
      boost = this.audio.createGain();
      boost.gain.value = 0;
      this.audio.createMediaStreamSource(new MediaStream([meter.copy])).connect(boost).connect(this.audio.destination);
    }
    return { index, userId: null, element, boost, meter };
  }

  private makeMeter(track: MediaStreamTrack): Meter {
    const copy = track.clone();
    copy.enabled = true;
    const analyser = this.audio!.createAnalyser();
    analyser.fftSize = ANALYSER_SIZE;
    this.audio!.createMediaStreamSource(new MediaStream([copy])).connect(analyser);
    return { copy, analyser, buffer: new Float32Array(analyser.fftSize) };
  }

  private async applyOutput(): Promise<void> {
    const id = this.settings.outputId;
    try {
      if (this.audio?.setSinkId) await this.audio.setSinkId(id);
      for (const slot of this.slots) await slot.element.setSinkId?.(id);
    } catch (error) {
      store.toast(`Voice: could not use that output device (${String(error)})`);
    }
  }

  /** A new microphone under the running call: the sender's track is replaced in place. */
  private async switchInput(): Promise<void> {
    const old = this.mic;
    let next: MediaStream;
    try {
      next = await openMicrophone(this.settings.inputId);
    } catch (error) {
      store.toast(`Voice: could not open that microphone (${String(error)})`);
      return;
    }
    const track = next.getAudioTracks()[0]!;
    const sender = this.pc?.getTransceivers()[0]?.sender;
    if (sender) await sender.replaceTrack(track);
    this.mic = next;
    old?.getTracks().forEach((t) => t.stop());
    this.micMeter?.copy.stop();
    this.micMeter = this.audio ? this.makeMeter(track) : null;
    this.updateGate();
  }

  /** The microphone's analyser, the keys, and the clock of the gate and the rings. */
  private startClock(): void {
    this.stopClock();
    const track = this.mic?.getAudioTracks()[0];
    if (track && this.audio) this.micMeter = this.makeMeter(track);
    this.clock = setInterval(() => this.tick(), GATE_POLL_MS);
    window.addEventListener("keydown", this.onKey, true);
    window.addEventListener("keyup", this.onKey, true);
    window.addEventListener("blur", this.onBlur);
  }

  private stopClock(): void {
    if (this.clock) clearInterval(this.clock);
    this.clock = null;
    this.micMeter?.copy.stop();
    this.micMeter = null;
    window.removeEventListener("keydown", this.onKey, true);
    window.removeEventListener("keyup", this.onKey, true);
    window.removeEventListener("blur", this.onBlur);
  }

  private readonly onKey = (e: KeyboardEvent) => {
    if (this.settings.mode !== "ptt" || e.code !== this.settings.pttKey || !this.pc) return;
    // A key that types must not transmit while one writes in a text box.
    const target = e.target as HTMLElement | null;
    const typing = !!target?.closest?.("input, textarea, select, [contenteditable]") && e.key.length === 1;
    if (typing || target?.closest?.("[data-ptt-capture]")) return;
    if (e.type === "keydown") {
      if (!e.repeat) this.setPushToTalk(true);
    } else this.setPushToTalk(false);
  };

  private readonly onBlur = () => {
    if (this.pttHeld) this.setPushToTalk(false);
  };

  /** Every 40 ms: the gate, then who speaks. */
  private tick(): void {
    this.updateGate();
    const me = store.me?.id;
    const now = Date.now();
    const was = new Set([...this.speaking.keys()].filter((id) => this.isSpeaking(id)));
    if (me && this.transmitting && this.micMeter && rms(this.micMeter) > SPEAKING_LEVEL) this.speaking.set(me, now);
    for (const slot of this.slots) {
      if (slot.userId && slot.meter && rms(slot.meter) > SPEAKING_LEVEL) this.speaking.set(slot.userId, now);
    }
    const is = new Set([...this.speaking.keys()].filter((id) => this.isSpeaking(id)));
    if (is.size !== was.size || [...is].some((id) => !was.has(id))) this.changed();
  }

  /** Open or close the microphone for the current mode, level and keys. */
  private updateGate(): void {
    const now = Date.now();
    if (this.micMeter) {
      const level = rms(this.micMeter);
      this.inputLevel = level > 0 ? Math.max(-100, 20 * Math.log10(level)) : -100;
      if (this.inputLevel > this.settings.threshold) this.vadUntil = now + VAD_HOLD_MS;
    }
    const open =
      this.settings.mode === "ptt" ? this.pttHeld || now < this.pttUntil : !this.micMeter || now < this.vadUntil;
    const transmitting = open && !this.muted && !this.deafened;
    const track = this.mic?.getAudioTracks()[0];
    if (track) track.enabled = transmitting;
    if (transmitting !== this.transmitting) {
      this.transmitting = transmitting;
      this.changed();
    }
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
    this.updateGate();
    for (const slot of this.slots) {
      const volume = slot.userId ? (this.volumes[slot.userId] ?? 1) : 1;
      const boosted = volume > 1 && !!slot.boost;
      slot.element.volume = Math.min(1, volume);
      slot.element.muted = this.deafened || boosted;
      if (slot.boost) slot.boost.gain.value = boosted && !this.deafened ? volume : 0;
    }
    if (announce && this.guildId && this.channelId) {
      currentGateway()?.voiceState(this.guildId, this.channelId, this.muted || this.deafened, this.deafened);
    }
    this.changed();
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
    for (const slot of this.slots) {
      slot.element.pause();
      slot.element.srcObject = null;
      slot.meter?.copy.stop();
    }
    this.slots = [];
    this.stopClock();
    this.pc?.close();
    this.pc = null;
    this.mic?.getTracks().forEach((t) => t.stop());
    this.mic = null;
    void this.audio?.close().catch(() => {});
    this.audio = null;
    this.transmitting = false;
    this.pttHeld = false;
    this.speaking.clear();
  }

  private changed(): void {
    store.changed();
  }
}

/** The root mean square of an analyser's latest window. */
function rms(meter: Meter): number {
  meter.analyser.getFloatTimeDomainData(meter.buffer);
  let sum = 0;
  for (const x of meter.buffer) sum += x * x;
  return Math.sqrt(sum / meter.buffer.length);
}

function loadSettings(): VoiceSettings {
  try {
    return { ...DEFAULT_SETTINGS, ...(JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "{}") as Partial<VoiceSettings>) };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

/** The chosen microphone, or the default one when it is gone. */
async function openMicrophone(deviceId: string): Promise<MediaStream> {
  const processing = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (deviceId) {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: { ...processing, deviceId: { exact: deviceId } }, video: false });
    } catch {
      // Unplugged since: fall back to the default.
    }
  }
  return navigator.mediaDevices.getUserMedia({ audio: processing, video: false });
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

// The end-to-end test reads WebRTC's counters and the gate through these (no other
// globals exist).
Object.assign(window, {
  spectrusVoiceStats: () => voice.stats(),
  spectrusVoiceState: () => voice.state(),
});
