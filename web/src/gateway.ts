/**
 * The gateway connection (Discord gateway v10, JSON, uncompressed).
 *
 * HELLO starts the heartbeat; IDENTIFY on a fresh start, RESUME (op 6) after any drop
 * while a session exists, so a flaky network costs one RESUME and never a reload of
 * the whole state. A heartbeat whose ACK never came means the socket is dead even if the
 * browser has not noticed: it is closed and resumed. The browser's own `offline` and
 * `online` events drop and redial at once instead of waiting for timeouts.
 */

export type GatewayStatus = "connecting" | "ready" | "reconnecting" | "offline";

export interface GatewayHandlers {
  dispatch(event: string, data: unknown): void;
  status(status: GatewayStatus): void;
  /** The server refused the token: the session is over. */
  authFailed(): void;
  /** A new session started (READY): anything cached from the old one may be stale. */
  identified?(): void;
  /** Closed with a code no reconnect can help (a client bug or an incompatible server). */
  fatal?(code: number): void;
}

const OP_DISPATCH = 0;
const OP_HEARTBEAT = 1;
const OP_IDENTIFY = 2;
const OP_PRESENCE = 3;
const OP_VOICE_STATE = 4;
const OP_RESUME = 6;
const OP_RECONNECT = 7;
const OP_INVALID_SESSION = 9;
const OP_HELLO = 10;
const OP_HEARTBEAT_ACK = 11;

/** Close codes after which neither RESUME nor IDENTIFY can help. */
const FATAL = new Set([4004, 4010, 4011, 4012, 4013, 4014]);
/** Close codes after which the session is gone but IDENTIFY may start a new one. */
const NO_RESUME = new Set([4007, 4009]);

export class Gateway {
  private ws: WebSocket | null = null;
  private seq: number | null = null;
  private sessionId: string | null = null;
  private resumeUrl: string | null = null;
  private heartbeat: ReturnType<typeof setTimeout> | null = null;
  private acked = true;
  private attempts = 0;
  private redial: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  status: GatewayStatus = "connecting";
  private presenceStatus: string;

  constructor(
    private readonly url: string,
    private readonly token: () => string | null,
    private readonly handlers: GatewayHandlers,
    initialPresence = "online",
  ) {
    this.presenceStatus = initialPresence;
  }

  start(): void {
    this.stopped = false;
    window.addEventListener("offline", this.wentOffline);
    window.addEventListener("online", this.cameOnline);
    if (navigator.onLine === false) this.setStatus("offline");
    else this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("offline", this.wentOffline);
    window.removeEventListener("online", this.cameOnline);
    this.teardown(1000);
    if (this.redial) clearTimeout(this.redial);
  }

  /** Op 4: join (`channelId`) or leave (null) a guild's voice channel. */
  voiceState(guildId: string, channelId: string | null, mute: boolean, deaf: boolean): void {
    this.send({
      op: OP_VOICE_STATE,
      d: { guild_id: guildId, channel_id: channelId, self_mute: mute, self_deaf: deaf },
    });
  }

  /** Op 3: one's own status (online, idle, dnd, invisible), sent now and at every
   * IDENTIFY after this. */
  presence(status: string): void {
    this.presenceStatus = status;
    this.send({ op: OP_PRESENCE, d: { status, since: null, activities: [], afk: status === "idle" } });
  }

  get sessionIdentity(): string | null {
    return this.sessionId;
  }

  private readonly wentOffline = () => {
    this.teardown(4000);
    this.setStatus("offline");
  };

  private readonly cameOnline = () => {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    if (this.redial) clearTimeout(this.redial);
    this.attempts = 0;
    this.connect();
  };

  private setStatus(status: GatewayStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.handlers.status(status);
  }

  private connect(): void {
    this.redial = null;
    if (this.stopped) return;
    const base = (this.sessionId && this.resumeUrl) || this.url;
    const url = new URL(base, location.href);
    url.searchParams.set("v", "10");
    url.searchParams.set("encoding", "json");
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    this.setStatus(this.sessionId ? "reconnecting" : "connecting");
    const ws = new WebSocket(url.toString());
    this.ws = ws;
    ws.onmessage = (event) => {
      if (ws === this.ws) this.receive(String(event.data));
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event.code);
    };
  }

  private receive(text: string): void {
    let frame: { op: number; d: unknown; s: number | null; t: string | null };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.op) {
      case OP_HELLO: {
        const interval = (frame.d as { heartbeat_interval: number }).heartbeat_interval;
        this.acked = true;
        // Discord's rule: the first beat after a random fraction of the interval.
        this.beat(interval, interval * Math.random());
        const token = this.token();
        if (!token) {
          this.stop();
          this.handlers.authFailed();
          return;
        }
        if (this.sessionId && this.seq !== null) {
          this.send({ op: OP_RESUME, d: { token, session_id: this.sessionId, seq: this.seq } });
        } else {
          this.identify(token);
        }
        break;
      }
      case OP_HEARTBEAT_ACK:
        this.acked = true;
        break;
      case OP_HEARTBEAT:
        this.send({ op: OP_HEARTBEAT, d: this.seq });
        break;
      case OP_RECONNECT:
        this.teardown(4000);
        this.connect();
        break;
      case OP_INVALID_SESSION:
        if (!frame.d) {
          this.sessionId = null;
          this.seq = null;
        }
        // Discord asks for a pause of 1-5 s before identifying again.
        setTimeout(
          () => {
            const token = this.token();
            if (!token || this.ws?.readyState !== WebSocket.OPEN) return;
            if (this.sessionId && this.seq !== null) {
              this.send({ op: OP_RESUME, d: { token, session_id: this.sessionId, seq: this.seq } });
            } else this.identify(token);
          },
          1000 + Math.random() * 1500,
        );
        break;
      case OP_DISPATCH:
        if (frame.s !== null) this.seq = frame.s;
        if (frame.t === "READY") {
          const ready = frame.d as { session_id: string; resume_gateway_url?: string };
          this.sessionId = ready.session_id;
          this.resumeUrl = ready.resume_gateway_url ?? null;
          this.attempts = 0;
          this.handlers.identified?.();
        }
        if (frame.t) this.handlers.dispatch(frame.t, frame.d);
        if (frame.t === "READY" || frame.t === "RESUMED") {
          this.attempts = 0;
          this.setStatus("ready");
        }
        break;
    }
  }

  private identify(token: string): void {
    this.send({
      op: OP_IDENTIFY,
      d: {
        token,
        properties: { os: navigator.platform || "web", browser: "Spectrus Web", device: "" },
        // People's clients send no intents and receive everything they may see.
        presence: { status: this.presenceStatus, since: null, activities: [], afk: this.presenceStatus === "idle" },
      },
    });
  }

  private beat(interval: number, first: number): void {
    if (this.heartbeat) clearTimeout(this.heartbeat);
    const tick = (delay: number) => {
      this.heartbeat = setTimeout(() => {
        if (!this.acked) {
          // A zombie connection: no ACK since the last beat. Resume on a fresh socket.
          this.teardown(4000);
          this.scheduleReconnect();
          return;
        }
        this.acked = false;
        this.send({ op: OP_HEARTBEAT, d: this.seq });
        tick(interval);
      }, delay);
    };
    tick(first);
  }

  private send(frame: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private teardown(code: number): void {
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.heartbeat = null;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      try {
        // Any code but 1000/1001 keeps the session resumable on Discord's gateway.
        ws.close(code);
      } catch {
        ws.close();
      }
    }
  }

  private closed(code: number): void {
    this.teardown(1000);
    if (this.stopped) return;
    if (FATAL.has(code)) {
      this.stop();
      if (code === 4004) this.handlers.authFailed();
      else {
        this.setStatus("offline");
        this.handlers.fatal?.(code);
      }
      return;
    }
    if (NO_RESUME.has(code)) {
      this.sessionId = null;
      this.seq = null;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.redial) return;
    if (navigator.onLine === false) {
      this.setStatus("offline");
      return; // the `online` event redials
    }
    this.setStatus(this.sessionId ? "reconnecting" : "connecting");
    const delay = Math.min(500 * 2 ** this.attempts, 10_000) * (0.5 + Math.random() / 2);
    this.attempts++;
    this.redial = setTimeout(() => this.connect(), this.attempts === 1 ? 100 : delay);
  }
}
