/** One's own settings: voice and audio (microphone, speakers, voice activity or
 * push-to-talk with its key, sensitivity with a live meter), appearance, account. */
import { useEffect, useRef, useState } from "preact/hooks";
import { signOut } from "../../client";
import { store } from "../../store";
import { voice, type Devices } from "../../voice";
import { useTheme, type ThemeChoice } from "../hooks";
import { SectionHeader } from "./common";
import type { LayerComponent } from "./index";
import type { UserSection } from "./types";

type Section = UserSection;

/** How a key is shown: its character, or its name without the "Key"/"Digit" prefix. */
function keyLabel(e: KeyboardEvent): string {
  if (e.key.length === 1 && e.key !== " ") return e.key.toUpperCase();
  if (e.code === "Space") return "Space";
  return e.code.replace(/^(Key|Digit)/, "");
}

function LevelMeter() {
  const [level, setLevel] = useState(voice.inputLevel);
  useEffect(() => {
    const timer = setInterval(() => setLevel(voice.inputLevel), 100);
    return () => clearInterval(timer);
  }, []);
  const percent = Math.max(0, Math.min(100, level + 100));
  const threshold = voice.settings.threshold + 100;
  return (
    <div class="meter" aria-hidden="true">
      <div class={`meter-fill${level > voice.settings.threshold ? " open" : ""}`} style={{ width: `${percent}%` }} />
      <div class="meter-mark" style={{ left: `${threshold}%` }} />
    </div>
  );
}

function VoiceSettingsSection() {
  const [devices, setDevices] = useState<Devices | null>(null);
  const [capturing, setCapturing] = useState(false);
  const settings = voice.settings;
  useEffect(() => {
    void voice.devices().then(setDevices);
    const update = () => void voice.devices().then(setDevices);
    navigator.mediaDevices.addEventListener("devicechange", update);
    return () => navigator.mediaDevices.removeEventListener("devicechange", update);
  }, []);
  // Listening starts in the click itself, not in an effect after the next paint: a key
  // pressed right after the button says "Press a key…" must be the one taken.
  const stopCapture = useRef<(() => void) | null>(null);
  const startCapture = () => {
    stopCapture.current?.();
    const capture = (e: KeyboardEvent) => {
      e.preventDefault();
      e.stopPropagation();
      if (e.key !== "Escape") void voice.configure({ pttKey: e.code, pttLabel: keyLabel(e) });
      stopCapture.current?.();
    };
    window.addEventListener("keydown", capture, true);
    stopCapture.current = () => {
      window.removeEventListener("keydown", capture, true);
      stopCapture.current = null;
      setCapturing(false);
    };
    setCapturing(true);
  };
  useEffect(() => () => stopCapture.current?.(), []);
  const inUse = voice.inputInUse();
  const connected = voice.phase === "connected";
  return (
    <section aria-label="Voice and audio">
      <SectionHeader title="Voice & audio" />
      <div class="form narrow-form">
        <label>
          Microphone
          <select
            name="input-device"
            value={settings.inputId}
            onChange={(e) => void voice.configure({ inputId: e.currentTarget.value })}
          >
            <option value="">Default</option>
            {devices?.inputs.map((d) => (
              <option value={d.id} key={d.id}>
                {d.label}
                {d.id === inUse && settings.inputId ? " (in use)" : ""}
              </option>
            ))}
          </select>
        </label>
        <label>
          Speakers
          <select
            name="output-device"
            value={settings.outputId}
            disabled={!devices?.canChooseOutput}
            onChange={(e) => void voice.configure({ outputId: e.currentTarget.value })}
          >
            <option value="">Default</option>
            {devices?.outputs.map((d) => (
              <option value={d.id} key={d.id}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
        {devices && !devices.canChooseOutput ? <p class="hint">This browser plays voice on its default output only.</p> : null}
        {devices && !devices.inputs.length ? (
          <p class="hint">The devices' names show once this site may use the microphone (join a voice channel once).</p>
        ) : null}
        <fieldset class="radio-group">
          <legend>Input mode</legend>
          <label class="check">
            <input
              type="radio"
              name="voice-mode"
              checked={settings.mode === "vad"}
              onChange={() => void voice.configure({ mode: "vad" })}
            />
            Voice activity: the microphone opens when you speak
          </label>
          <label class="check">
            <input
              type="radio"
              name="voice-mode"
              checked={settings.mode === "ptt"}
              onChange={() => void voice.configure({ mode: "ptt" })}
            />
            Push to talk: the microphone opens while you hold a key
          </label>
        </fieldset>
        {settings.mode === "ptt" ? (
          <div class="field">
            <span class="field-label">Push-to-talk key</span>
            <button
              type="button"
              class="secondary key-capture"
              data-ptt-capture="true"
              aria-label={capturing ? "Press the new key (Escape keeps the old one)" : `Push-to-talk key: ${settings.pttLabel}. Change it`}
              onClick={startCapture}
            >
              {capturing ? "Press a key…" : <kbd>{settings.pttLabel}</kbd>}
            </button>
            <p class="hint">Held while this tab has the focus. Keys that type are ignored while you write in a text box.</p>
          </div>
        ) : (
          <div class="field">
            <span class="field-label">Sensitivity ({settings.threshold} dB)</span>
            <input
              type="range"
              name="sensitivity"
              min={-100}
              max={0}
              step={1}
              value={settings.threshold}
              aria-label="Voice activity sensitivity (dB)"
              onInput={(e) => void voice.configure({ threshold: Number(e.currentTarget.value) })}
            />
            {connected ? <LevelMeter /> : <p class="hint">Join a voice channel to see your microphone's level here.</p>}
          </div>
        )}
      </div>
    </section>
  );
}

function AppearanceSection() {
  const [theme, setTheme] = useTheme();
  const choices: { value: ThemeChoice; label: string }[] = [
    { value: "system", label: "Follow the system" },
    { value: "light", label: "Light" },
    { value: "dark", label: "Dark" },
  ];
  return (
    <section aria-label="Appearance">
      <SectionHeader title="Appearance" />
      <fieldset class="radio-group">
        <legend>Theme</legend>
        {choices.map((c) => (
          <label class="check" key={c.value}>
            <input type="radio" name="theme" checked={theme === c.value} onChange={() => setTheme(c.value)} />
            {c.label}
          </label>
        ))}
      </fieldset>
    </section>
  );
}

function AccountSection() {
  const me = store.me;
  return (
    <section aria-label="Account">
      <SectionHeader title="Account" />
      <p>
        Signed in as <strong>{me?.username}</strong>.
      </p>
      <button type="button" class="secondary danger-text" onClick={() => void signOut()}>
        Sign out
      </button>
    </section>
  );
}

export function UserSettings({
  Layer,
  section = "voice",
  onSection,
  onClose,
}: {
  Layer: LayerComponent;
  section: Section | undefined;
  onSection: (section: Section) => void;
  onClose: () => void;
}) {
  const setSection = onSection;
  const tabs: { id: Section; title: string }[] = [
    { id: "voice", title: "Voice & audio" },
    { id: "appearance", title: "Appearance" },
    { id: "account", title: "Account" },
  ];
  const nav = tabs.map((t) => (
    <button
      type="button"
      key={t.id}
      class="settings-tab"
      aria-current={section === t.id ? "page" : undefined}
      data-section={t.id}
      onClick={() => setSection(t.id)}
    >
      {t.title}
    </button>
  ));
  return (
    <Layer title="User settings" label="User settings" nav={nav} onClose={onClose}>
      {section === "voice" ? <VoiceSettingsSection /> : null}
      {section === "appearance" ? <AppearanceSection /> : null}
      {section === "account" ? <AccountSection /> : null}
    </Layer>
  );
}
