// Voice in the browser, end to end: two people in two Chromium contexts with Chromium's
// fake microphone (a beeping tone) join the same voice channel through the web client
// (gateway op 4, then WebRTC to the media node's bridge); the one not yet in it sees who
// is. Each one receives the other's audio: WebRTC's own counters (inbound-rtp
// packetsReceived and totalAudioEnergy) grow on the slot the bridge says carries the
// other person, and each sees the other's speaking ring light. Then mute and deafen as
// others see them, a volume past 100%, the voice settings (microphone choice, output
// choice, push-to-talk: silence until the key is held, then audio), and leaving.
//
//   node tests/web/voice.mjs --base http://127.0.0.1:PORT --out DIR
//
// The media node's certificate comes from the instance's own local CA, which this
// throwaway browser profile does not trust: the contexts ignore certificate errors.

import {
  T,
  check,
  launch,
  options,
  registerByApi,
  rest,
  runScenario,
  shot,
  watch,
} from "./common.mjs";

const { base: BASE, out: OUT, chromium: CHROMIUM } = options();
const problems = [];
const figures = {};

async function statsOf(page) {
  return page.evaluate(() => window.spectrusVoiceStats());
}

/** Until `page` receives audio (packets and energy) on one of its slots. With two people
 * in the room, whatever arrives is the other one's microphone. */
async function hears(page, who) {
  const deadline = Date.now() + 20_000;
  let last = [];
  while (Date.now() < deadline) {
    last = await statsOf(page);
    const slot = last.find((s) => s.packets > 50 && s.energy > 0 && s.userId);
    if (slot) return slot;
    await page.waitForTimeout(250);
  }
  throw new Error(`${who} never heard the other side: ${JSON.stringify(last)}`);
}

async function main() {
  const browser = await launch(CHROMIUM, [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ]);
  await runScenario({ browser, out: OUT, problems, figures }, async () => {
    const context = () =>
      browser.newContext({
        viewport: { width: 1200, height: 760 },
        ignoreHTTPSErrors: true,
        permissions: ["microphone"],
      });
    const ctxA = await context();
    const ctxB = await context();
    const a = await ctxA.newPage();
    const b = await ctxB.newPage();
    for (const [page, who] of [[a, "alice"], [b, "bob"]]) {
      watch(page, who, problems);
      page.setDefaultTimeout(T);
    }
    const suffix = Date.now().toString(36).slice(-5);
    const alice = await registerByApi(a, BASE, `va_${suffix}`, "correct horse battery");
    const bob = await registerByApi(b, BASE, `vb_${suffix}`, "correct horse battery");
    const guild = await rest(a, "POST", "/guilds", { name: "Voice Guild" });
    const channels = await rest(a, "GET", `/guilds/${guild.id}/channels`);
    const text = channels.find((c) => c.type === 0);
    const room = channels.find((c) => c.type === 2);
    const invite = await rest(a, "POST", `/channels/${text.id}/invites`, {});
    await rest(b, "POST", `/invites/${invite.code}`);

    for (const page of [a, b]) {
      await page.goto(`${BASE}/channels/${guild.id}/${text.id}`);
      await page.locator(".chat-header .channel-name", { hasText: text.name }).waitFor();
    }

    // --- Alice joins; Bob, not in voice, sees her under the channel; then he joins -------
    const started = Date.now();
    await a.getByRole("button", { name: `Voice channel ${room.name}, join` }).click();
    await a.locator('.voice-panel[data-phase="connected"]').waitFor();
    await b.locator(`.channel.voice[data-channel="${room.id}"] .voice-users li[data-user="${alice.user_id}"]`).waitFor();
    await b.getByRole("button", { name: `Voice channel ${room.name}, join` }).click();
    await b.locator('.voice-panel[data-phase="connected"]').waitFor();
    figures.voice_join_ms = Date.now() - started;
    for (const page of [a, b]) {
      await page.locator(`.voice-users li[data-user="${alice.user_id}"]`).waitFor();
      await page.locator(`.voice-users li[data-user="${bob.user_id}"]`).waitFor();
    }

    // --- each receives the other's audio --------------------------------------------------
    const bobHearsAlice = await hears(b, "bob");
    const aliceHearsBob = await hears(a, "alice");
    figures.voice_packets_received = { alice: aliceHearsBob.packets, bob: bobHearsAlice.packets };
    check(bobHearsAlice.energy > 0 && aliceHearsBob.energy > 0, "audio energy arrives both ways");

    // Which user a slot carries comes from the bridge's `slot` message on the data channel,
    // which the bridge holds until the browser's channel is open.
    check(bobHearsAlice.userId === alice.user_id, `Bob's slot carries Alice: ${JSON.stringify(bobHearsAlice)}`);
    check(aliceHearsBob.userId === bob.user_id, `Alice's slot carries Bob: ${JSON.stringify(aliceHearsBob)}`);

    // --- speaking rings: the fake microphones beep; each sees the OTHER one's ring -------
    await b.locator(`.voice-users li[data-user="${alice.user_id}"][data-speaking="true"]`).waitFor({ timeout: 20_000 });
    await a.locator(`.voice-users li[data-user="${bob.user_id}"][data-speaking="true"]`).waitFor({ timeout: 20_000 });
    await a.locator(`.voice-users li[data-user="${alice.user_id}"][data-speaking="true"]`).waitFor({ timeout: 20_000 });
    await shot(a, OUT, "09-voice-light");

    // --- mute and deafen, as the other person sees them ---------------------------------
    await a.getByRole("button", { name: "Mute", exact: true }).click();
    await b.locator(`.voice-users li[data-user="${alice.user_id}"] .state[aria-label="muted"]`).waitFor();
    await b.getByRole("button", { name: "Deafen", exact: true }).click();
    await a.locator(`.voice-users li[data-user="${bob.user_id}"] .state[aria-label="deafened"]`).waitFor();
    await b.getByRole("button", { name: "Undeafen" }).click();
    await a.locator(`.voice-users li[data-user="${bob.user_id}"] .state[aria-label="deafened"]`).waitFor({ state: "detached" });

    // --- per-user volume: Bob turns Alice down, then up past 100% -----------------------
    await a.getByRole("button", { name: "Unmute" }).click();
    await b.locator(`.voice-users li[data-user="${alice.user_id}"] button.voice-user`).click();
    const slider = b.getByLabel(/^Volume of /);
    await slider.fill("50");
    const kept = () => b.evaluate(() => JSON.parse(localStorage.getItem("spectrus.voiceVolume")));
    check((await kept())[alice.user_id] === 0.5, "volume kept");
    const gainOf = async (page, userId) => (await statsOf(page)).find((s) => s.userId === userId)?.gain;
    check((await gainOf(b, alice.user_id)) === 0.5, "the slot plays at 50%");
    await slider.fill("150");
    check((await kept())[alice.user_id] === 1.5, "volume past 100% kept");
    check(Math.abs((await gainOf(b, alice.user_id)) - 1.5) < 1e-6, "the slot plays at 150% (Web Audio gain)");
    await b.locator(`.voice-users li[data-user="${alice.user_id}"][data-speaking="true"]`).waitFor({ timeout: 20_000 });
    await shot(b, OUT, "10-voice-volume-light");

    // --- voice settings: microphone and output choice, push to talk ------------------------
    await a.getByRole("button", { name: "Voice settings" }).click();
    const settings = a.getByRole("dialog", { name: "User settings" });
    await settings.waitFor();
    const microphone = settings.locator('select[name="input-device"]');
    await a.waitForFunction(() => document.querySelectorAll('select[name="input-device"] option').length > 2);
    const inputs = await microphone.locator("option").evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    const chosen = inputs[inputs.length - 1];
    await microphone.selectOption(chosen);
    await a.waitForFunction((id) => window.spectrusVoiceState().input === id, chosen);
    const speakers = settings.locator('select[name="output-device"]');
    const outputs = await speakers.locator("option").evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    figures.voice_devices = { inputs: inputs.length, outputs: outputs.length };
    if (outputs.length && !(await speakers.isDisabled())) {
      await speakers.selectOption(outputs[outputs.length - 1]);
      check((await a.evaluate(() => JSON.parse(localStorage.getItem("spectrus.voiceSettings")).outputId)) === outputs[outputs.length - 1], "output kept");
    }
    await settings.getByLabel(/^Push to talk/).check();
    await settings.getByRole("button", { name: /^Push-to-talk key: `/ }).click(); // the default, changed to T
    await settings.getByRole("button", { name: /^Press the new key/ }).waitFor();
    await a.keyboard.press("KeyT");
    await settings.getByRole("button", { name: /^Push-to-talk key: T\./ }).waitFor();
    await shot(a, OUT, "13-voice-settings-light");
    await a.emulateMedia({ colorScheme: "dark" });
    await shot(a, OUT, "14-voice-settings-dark");
    await a.emulateMedia({ colorScheme: "light" });
    await a.getByRole("button", { name: "Close settings" }).click();
    await settings.waitFor({ state: "detached" });

    // Not held: the microphone is closed and Bob receives silence from Alice.
    await a.locator('.voice-panel[data-mode="ptt"][data-transmitting="false"]').waitFor();
    await b.locator(`.voice-users li[data-user="${alice.user_id}"][data-speaking="false"]`).waitFor();
    const before = (await statsOf(b)).find((s) => s.userId === alice.user_id);
    await b.waitForFunction(
      async ([id, packets]) => (await window.spectrusVoiceStats()).find((s) => s.userId === id).packets > packets + 50,
      [alice.user_id, before.packets],
      { polling: 200 },
    );
    const after = (await statsOf(b)).find((s) => s.userId === alice.user_id);
    check(after.energy - before.energy < 1e-6, `silence while push-to-talk is not held: ${after.energy - before.energy}`);

    // Held (the key, with the focus off any text box): Alice transmits, Bob's ring of her lights.
    await a.locator(".chat-header h2").click();
    await a.keyboard.down("KeyT");
    await a.locator('.voice-panel[data-transmitting="true"]').waitFor();
    await b.locator(`.voice-users li[data-user="${alice.user_id}"][data-speaking="true"]`).waitFor({ timeout: 20_000 });
    await shot(a, OUT, "15-push-to-talk-light");
    await a.keyboard.up("KeyT");
    await a.locator('.voice-panel[data-transmitting="false"]').waitFor();

    // --- leaving ---------------------------------------------------------------------------
    await a.getByRole("button", { name: "Leave voice" }).click();
    await b.locator(`.voice-users li[data-user="${alice.user_id}"]`).waitFor({ state: "detached" });
    await a.locator(".voice-panel").waitFor({ state: "detached" });

  });
}

await main();
