// End-to-end scenario of the web client in Debian's headless Chromium, driven by
// playwright-core (from web/node_modules; no browser is ever downloaded).
//
//   node tests/web/e2e.mjs --base http://127.0.0.1:PORT --out DIR
//
// Two people in two browser contexts: register, create a guild, invite, join by the
// link, chat in real time (typing indicator, Markdown), react, edit, delete, upload an
// image by drag and drop and see its preview, write while offline (the message arrives
// exactly once after reconnecting; also when the server's answer to a send is lost),
// mention by autocomplete (badge, then read), message directly, page back through
// history, and move between channels by keyboard. Then the rest of a conversation:
// a custom emoji uploaded in the server settings and sent from the composer's emoji
// picker, reactions from the full picker, replies (and jumping to a reply's original
// far back in the history), pins, search, a link preview (title and site, no
// third-party image), and presence (status dots and the online / offline groups).
// Saves screenshots of the main views to DIR and prints one JSON line of figures on
// success. Run by tests/web/test_web_e2e.py, which starts the server with loopback
// allowed for link previews (the page previewed is served by this script).

import { createServer } from "node:http";
import { deflateSync } from "node:zlib";
import { T, check, launch, options, rest, runScenario, shot as shotIn, watch as watchIn } from "./common.mjs";

const { base: BASE, out: OUT, chromium: CHROMIUM } = options();
const figures = {};
const problems = [];
const watch = (page, who) => watchIn(page, who, problems);
const shot = (page, name) => shotIn(page, OUT, name);

/** A small real PNG (a soft gradient), made here so the test needs no fixture file. */
function makePng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      row[1 + x * 3] = 60 + Math.round((150 * x) / width);
      row[2 + x * 3] = 110 + Math.round((100 * y) / height);
      row[3 + x * 3] = 230;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function register(page, username, password, { viaInvite = false } = {}) {
  if (!viaInvite) {
    await page.getByRole("button", { name: "Create an account" }).click();
  }
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.locator("form.auth-card button[type=submit]").click();
}

/** The message whose text content contains `text`, in the open channel. */
const messageWith = (page, text) => page.locator(".messages article.message:not(.pending)", { hasText: text });

async function send(page, text) {
  const box = page.locator(".composer textarea");
  await box.fill(text);
  await box.press("Enter");
}

/** A page with Open Graph tags for the link preview, and an image (another origin than
 * the client's: the preview must not show it). */
function startPreviewSite() {
  const server = createServer((request, response) => {
    if (request.url === "/image.png") {
      response.writeHead(200, { "Content-Type": "image/png" });
      response.end(makePng(40, 40));
      return;
    }
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><html><head><title>fallback</title>
      <meta property="og:title" content="The Spectrus field guide">
      <meta property="og:description" content="Everything about running voice rooms at home.">
      <meta property="og:site_name" content="Preview Site">
      <meta property="og:image" content="http://127.0.0.1:${server.address().port}/image.png">
      </head><body>hello</body></html>`);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function main() {
  const browser = await launch(CHROMIUM);
  const site = await startPreviewSite();
  const suffix = Date.now().toString(36).slice(-5);
  const alice = { name: `alice_${suffix}`, password: "correct horse battery" };
  const bob = { name: `bob_${suffix}`, password: "another long passphrase" };
  await runScenario({ browser, out: OUT, problems, figures, cleanup: () => site.close() }, async () => {
    const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    const ctxB = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: "dark" });
    const a = await ctxA.newPage();
    const b = await ctxB.newPage();
    watch(a, "alice");
    watch(b, "bob");
    a.setDefaultTimeout(T);
    b.setDefaultTimeout(T);

    // --- sign-in page, served by the API at / with its CSP -----------------------------
    const response = await a.goto(BASE + "/");
    check(response.status() === 200, "GET / answers 200");
    check(/script-src 'self'/.test(response.headers()["content-security-policy"] ?? ""), "the page has a CSP");
    await a.getByRole("heading", { name: "Welcome back" }).waitFor();
    await shot(a, "01-login-light");

    // --- Alice registers and creates a guild ---------------------------------------------
    await register(a, alice.name, alice.password);
    await a.getByText("You are not in a server yet").waitFor();
    await a.getByRole("button", { name: "Create or join a server" }).first().click();
    await a.getByLabel("Server name").fill("Test Guild");
    await a.locator("dialog .form button[type=submit]").click();
    await a.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    check(/\/channels\/\d+\/\d+$/.test(new URL(a.url()).pathname), "the guild's channel is in the URL");

    // --- an invite, accepted by Bob from the link ------------------------------------------
    await a.getByRole("button", { name: "Invite people" }).click();
    const linkInput = a.getByLabel("Invite link");
    await a.waitForFunction(() => document.querySelector("#invite-link")?.value.includes("/invite/"));
    const link = await linkInput.inputValue();
    check(link.startsWith(BASE + "/invite/"), `invite link on this origin: ${link}`);
    await a.keyboard.press("Escape");

    // Bob's gateway traffic: a network drop must cost one RESUME, never a second READY.
    const bobFrames = [];
    b.on("websocket", (ws) => {
      ws.on("framesent", (f) => bobFrames.push(["sent", JSON.parse(f.payload).op]));
      ws.on("framereceived", (f) => {
        const frame = JSON.parse(f.payload);
        bobFrames.push(["received", frame.t ?? frame.op]);
      });
    });
    await b.goto(link);
    await b.locator(".invite-guild", { hasText: "Test Guild" }).waitFor();
    await shot(b, "02-invite-dark");
    await register(b, bob.name, bob.password, { viaInvite: true });
    await b.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    await b.locator(".guild-header h1", { hasText: "Test Guild" }).waitFor();

    const bobId = await b.evaluate(() => JSON.parse(localStorage.getItem("spectrus.auth")).user_id);

    // --- real-time chat: typing indicator, then formatted messages both ways --------------
    await a.locator(".composer textarea").fill("typing so bob sees it");
    await b.locator(".typing", { hasText: "is typing" }).waitFor();
    await a.locator(".composer textarea").fill("");
    await send(a, "hello **bob**, see `code` and <script>alert(1)</script>");
    const hello = messageWith(b, "hello");
    await hello.waitFor();
    check((await hello.locator("strong").innerText()) === "bob", "bold renders as <strong>");
    check((await hello.locator("code").innerText()) === "code", "inline code renders");
    check((await b.locator(".messages script").count()) === 0, "no markup from a message reaches the DOM");
    check((await hello.innerText()).includes("<script>alert(1)</script>"), "markup shows as text");
    await send(b, "hi alice! ||secret||");
    await messageWith(a, "hi alice!").waitFor();

    // --- reactions ----------------------------------------------------------------------------
    const target = messageWith(b, "hello");
    await target.hover();
    await target.getByRole("button", { name: "Add reaction" }).click();
    await b.getByRole("menuitem", { name: "React 👍" }).click();
    const chipA = messageWith(a, "hello").locator(".reaction");
    await chipA.filter({ hasText: "1" }).waitFor();
    await chipA.click(); // Alice adds hers to the same emoji
    await messageWith(b, "hello").locator(".reaction.me", { hasText: "2" }).waitFor();
    await messageWith(a, "hello").locator(".reaction.me", { hasText: "2" }).waitFor();

    // --- edit (Up arrow on the empty composer edits one's last message) -------------------
    await a.locator(".composer textarea").click();
    await a.locator(".composer textarea").press("ArrowUp");
    const editor = a.getByRole("textbox", { name: "Edit message" });
    await editor.fill("hello **bob** (now edited)");
    await editor.press("Enter");
    await messageWith(b, "now edited").locator(".edited").waitFor();

    // --- delete -----------------------------------------------------------------------------
    await send(b, "a message to delete");
    const doomed = messageWith(a, "a message to delete");
    await doomed.waitFor();
    const mine = messageWith(b, "a message to delete");
    await mine.hover();
    await mine.getByRole("button", { name: "Delete message" }).click();
    await mine.getByRole("button", { name: "Confirm delete" }).click();
    await doomed.waitFor({ state: "detached" });

    // --- image by drag and drop, with a preview before and after sending -------------------
    const png = makePng(320, 200).toString("base64");
    const dataTransfer = await a.evaluateHandle((base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], "gradient.png", { type: "image/png" }));
      return transfer;
    }, png);
    await a.dispatchEvent(".chat", "dragenter", { dataTransfer });
    await a.locator(".dropzone").waitFor();
    await a.dispatchEvent(".chat", "drop", { dataTransfer });
    await a.locator(".uploads .upload img").waitFor();
    await a.locator(".composer textarea").fill("a picture");
    await shot(a, "03-upload-preview-light");
    await a.locator(".composer textarea").press("Enter");
    const picture = messageWith(b, "a picture").locator(".attachment.image img");
    await picture.waitFor();
    await b.waitForFunction(
      () => {
        const img = [...document.querySelectorAll(".attachment.image img")].pop();
        return img && img.complete && img.naturalWidth === 320 && img.naturalHeight === 200;
      },
      null,
      { timeout: T },
    );

    // --- offline: written while disconnected, delivered once after reconnecting ------------
    await ctxB.setOffline(true);
    await b.locator('[data-status="offline"]').waitFor();
    await send(b, "written while offline");
    await b.locator("article.message.pending", { hasText: "written while offline" }).waitFor();
    await shot(b, "04-offline-dark");
    await a.waitForTimeout(1000);
    check((await messageWith(a, "written while offline").count()) === 0, "nothing arrives while offline");
    await ctxB.setOffline(false);
    await b.locator('[data-status="ready"]').waitFor();
    await messageWith(a, "written while offline").waitFor();
    await b.locator("article.message.pending").waitFor({ state: "detached" });
    await a.waitForTimeout(1500); // time for a duplicate to show up, if there were one
    check((await messageWith(a, "written while offline").count()) === 1, "exactly once for Alice");
    check((await messageWith(b, "written while offline").count()) === 1, "exactly once for Bob");
    const count = (dir, what) => bobFrames.filter(([d, w]) => d === dir && w === what).length;
    check(count("sent", 6) === 1 && count("received", "RESUMED") === 1, "the reconnect resumed");
    check(count("sent", 2) === 1 && count("received", "READY") === 1, "one IDENTIFY, one READY");

    // --- the answer to a send is lost: the retry carries the nonce, the server dedupes -----
    let dropped = 0;
    await b.route("**/api/v10/channels/*/messages", async (route) => {
      if (route.request().method() === "POST" && dropped === 0) {
        dropped++;
        await route.fetch(); // the server stores the message...
        await route.abort("connectionreset"); // ...but the client never hears back
        return;
      }
      await route.continue();
    });
    await send(b, "answer lost once");
    await messageWith(a, "answer lost once").waitFor();
    await b.locator("article.message.pending").waitFor({ state: "detached" });
    await a.waitForTimeout(2500); // past the client's first retry (1 s)
    await b.unroute("**/api/v10/channels/*/messages");
    check(dropped === 1, "one answer was dropped");
    const channelId = new URL(a.url()).pathname.split("/")[3];
    const stored = await rest(a, "GET", `/channels/${channelId}/messages?limit=100`);
    for (const text of ["written while offline", "answer lost once"]) {
      const copies = stored.filter((m) => m.content === text).length;
      check(copies === 1, `the server stored "${text}" once (found ${copies})`);
    }
    check((await messageWith(a, "answer lost once").count()) === 1, "Alice sees it once");

    // --- screenshots of the chat, light and dark, and at phone width -----------------------
    await a.mouse.move(5, 5);
    await shot(a, "05-chat-light");
    await a.emulateMedia({ colorScheme: "dark" });
    await shot(a, "06-chat-dark");
    await a.emulateMedia({ colorScheme: "light" });
    await a.getByRole("button", { name: /^Theme: system/ }).click(); // system -> light -> dark
    await a.getByRole("button", { name: /^Theme: light/ }).click();
    check((await a.evaluate(() => document.documentElement.dataset.theme)) === "dark", "the toggle forces dark");
    await a.getByRole("button", { name: /^Theme: dark/ }).click();

    const phone = await ctxB.newPage();
    watch(phone, "bob-phone");
    phone.setDefaultTimeout(T);
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(BASE + new URL(b.url()).pathname);
    await phone.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    await messageWith(phone, "a picture").waitFor();
    await shot(phone, "07-phone-chat-dark");
    await phone.getByRole("button", { name: "Open channels" }).click();
    await phone.locator(".nav .channels").waitFor();
    await shot(phone, "08-phone-channels-dark");
    await phone.close();

    // --- history: a long channel pages in as one scrolls up ---------------------------------
    const guildId = new URL(a.url()).pathname.split("/")[2];
    const history = await rest(a, "POST", `/guilds/${guildId}/channels`, { name: "history", type: 0 });
    for (let i = 1; i <= 130; i++) {
      await rest(a, "POST", `/channels/${history.id}/messages`, { content: `history message ${i}` });
    }
    await a.locator(`.channels a[data-channel="${history.id}"]`).click();
    await messageWith(a, "history message 130").waitFor();
    const firstPage = await a.locator(".messages article.message").count();
    check(firstPage === 50, `the first page holds 50 (got ${firstPage})`);
    for (let i = 0; i < 10; i++) {
      if (await a.locator(".channel-start").count()) break;
      await a.locator(".messages").evaluate((el) => (el.scrollTop = 0));
      await a.waitForTimeout(300);
    }
    await a.locator(".channel-start", { hasText: "#history" }).waitFor();
    check((await a.locator(".messages article.message").count()) === 130, "all 130 after scrolling up");
    await messageWith(a, "history message 1").first().waitFor();

    // --- a mention by autocomplete; a badge where Alice is not looking; read on opening ----
    const bobBox = b.locator(".composer textarea");
    await bobBox.fill(`ping @${alice.name.slice(0, 4)}`);
    await b.getByRole("option", { name: new RegExp(alice.name) }).waitFor();
    await shot(b, "11-mention-suggestions-dark");
    await bobBox.press("Enter"); // picks the suggestion
    check((await bobBox.inputValue()) === `ping @${alice.name} `, "the suggestion fills the name");
    await bobBox.press("End");
    await bobBox.pressSequentially("are you there?");
    await bobBox.press("Enter");
    const generalId = channelId;
    await a.locator(`.channels a[data-channel="${generalId}"] .badge`, { hasText: "1" }).waitFor();
    await a.locator(`.channels a[data-channel="${generalId}"]`).click();
    const ping = a.locator("article.message.mentioned", { hasText: "are you there?" });
    await ping.waitFor();
    check((await ping.locator(".mention.me").innerText()) === `@${alice.name}`, "the mention names Alice");
    await a.locator(`.channels a[data-channel="${generalId}"] .badge`).waitFor({ state: "detached" });
    await a.locator(`.channels a[data-channel="${history.id}"]`).click();
    await messageWith(a, "history message 130").waitFor();

    // --- a direct message, started from the member list ------------------------------------
    await a.locator(`.members button.member[data-user="${bobId}"]`).click();
    await a.locator(".chat-header .channel-name", { hasText: bob.name }).waitFor();
    check(new URL(a.url()).pathname.startsWith("/channels/@me/"), "the DM has its own route");
    await send(a, "a private hello");
    await messageWith(a, "a private hello").waitFor();
    await b.locator('.rail a[data-home="true"] + .badge', { hasText: "1" }).waitFor();
    await b.locator('.rail a[data-home="true"]').click();
    await b.locator(".channels .channel.dm a", { hasText: alice.name }).click();
    await messageWith(b, "a private hello").waitFor();
    await b.locator('.rail a[data-home="true"] + .badge').waitFor({ state: "detached" });
    await shot(b, "12-direct-message-dark");
    await b.goBack();
    await b.goBack();
    await b.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    await a.locator(`.rail a[data-guild="${guildId}"]`).click();
    await a.locator(`.channels a[data-channel="${history.id}"]`).click();
    await messageWith(a, "history message 130").waitFor();

    // --- keyboard: Alt+Up / Alt+Down move between text channels -----------------------------
    await a.locator(".composer textarea").focus();
    await a.keyboard.press("Alt+ArrowUp");
    await a.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    await a.keyboard.press("Alt+ArrowDown");
    await a.locator(".chat-header .channel-name", { hasText: "history" }).waitFor();

    // --- a custom emoji, uploaded in the server settings -----------------------------------
    await a.locator(`.channels a[data-channel="${generalId}"]`).click();
    await a.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    await a.getByRole("button", { name: "Server settings" }).click();
    const settings = a.getByRole("dialog", { name: "Server settings" });
    await settings.locator('[data-section="emoji"]').click();
    await settings.getByLabel("Emoji image").setInputFiles({ name: "party.png", mimeType: "image/png", buffer: makePng(64, 64) });
    check((await settings.getByLabel("Emoji name").inputValue()) === "party", "the name comes from the file");
    await settings.getByRole("button", { name: "Upload emoji" }).click();
    await settings.locator('tr[data-emoji="party"] img.emoji').waitFor();
    await a.getByRole("button", { name: "Close settings" }).click();
    await settings.waitFor({ state: "detached" });

    // --- the composer's emoji picker: the custom one and a standard one ------------------
    await a.getByRole("button", { name: "Emoji", exact: true }).click();
    const picker = a.getByRole("dialog", { name: "Emoji" });
    await picker.locator("section[aria-label='Test Guild'] .emoji-cell img").waitFor();
    await picker.locator(".emoji-tabs button").first().waitFor(); // the standard set arrived
    await shot(a, "16-emoji-picker-light");
    await picker.getByLabel("Find an emoji").fill("party");
    await picker.getByRole("button", { name: ":party:" }).click();
    await picker.waitFor({ state: "detached" });
    const aliceBox = a.locator(".composer textarea");
    check((await aliceBox.inputValue()) === ":party: ", `the picker inserts :party: (${await aliceBox.inputValue()})`);
    await aliceBox.press("End");
    await aliceBox.pressSequentially("time ");
    await a.getByRole("button", { name: "Emoji", exact: true }).click();
    await picker.getByLabel("Find an emoji").fill("tada");
    await picker.getByRole("button", { name: "🎉" }).click();
    await aliceBox.press("Enter");
    const partyB = messageWith(b, "time");
    await partyB.locator('img.emoji[alt=":party:"]').waitFor();
    check((await partyB.innerText()).includes("🎉"), "the standard emoji went too");

    // --- a reaction from the full picker, with the custom emoji ------------------------------
    await partyB.hover();
    await partyB.getByRole("button", { name: "Add reaction" }).click();
    await b.getByRole("menuitem", { name: "More emoji" }).click();
    const reactPicker = b.getByRole("dialog", { name: "React with an emoji" });
    await reactPicker.getByLabel("Find an emoji").fill("par");
    await reactPicker.getByRole("button", { name: ":party:" }).click();
    await messageWith(a, "time").locator('.reaction img.emoji[alt=":party:"]').waitFor();

    // --- a reply: the quoted original above it, pinging its author ---------------------------
    await partyB.hover();
    await partyB.getByRole("button", { name: "Reply" }).click();
    await b.locator(".reply-bar", { hasText: alice.name }).waitFor();
    await send(b, "that is a nice emoji");
    const reply = a.locator("article.message.reply", { hasText: "that is a nice emoji" });
    await reply.locator(".reply-preview", { hasText: ":party: time" }).waitFor();
    check((await reply.getAttribute("class")).includes("mentioned"), "the reply pings Alice");
    check((await b.locator(".reply-bar").count()) === 0, "the reply bar goes after sending");

    // --- a link preview: title, description and site; no third-party image ------------------
    const guide = `http://127.0.0.1:${site.address().port}/guide`;
    await send(a, `read ${guide}`);
    const embed = messageWith(b, "read http").locator(".embed");
    await embed.locator(".embed-title", { hasText: "The Spectrus field guide" }).waitFor({ timeout: 20_000 });
    check((await embed.locator(".embed-description").innerText()).includes("voice rooms"), "the description shows");
    check((await embed.locator(".embed-provider").innerText()) === "Preview Site", "the site shows");
    check((await embed.locator("img").count()) === 0, "no image from another origin");

    // --- pins: pinned by Alice, seen in Bob's pinned list, unpinned -----------------------
    const edited = messageWith(a, "now edited");
    await edited.hover();
    await edited.getByRole("button", { name: "Pin message" }).click();
    await messageWith(b, "now edited").locator(".pinned-mark").waitFor();
    await b.getByRole("button", { name: "Pinned messages" }).click();
    const pins = b.getByRole("complementary", { name: "Pinned messages" });
    await pins.locator(".result", { hasText: "now edited" }).waitFor();
    await shot(b, "17-pins-dark");
    await edited.hover();
    await edited.getByRole("button", { name: "Unpin message" }).click();
    await pins.getByText("Nothing is pinned in this channel yet.").waitFor();
    await b.getByRole("button", { name: "Close pinned messages" }).click();

    // --- search: results in a panel, a click jumps to the message -----------------------------
    await a.getByLabel("Search this server").fill("edited");
    await a.getByLabel("Search this server").press("Enter");
    const results = a.getByRole("complementary", { name: "Search results" });
    await results.getByRole("heading", { name: "1 result" }).waitFor();
    await results.locator(".result", { hasText: "now edited" }).waitFor();
    await a.mouse.move(5, 5);
    await shot(a, "18-search-light");
    await a.emulateMedia({ colorScheme: "dark" });
    await shot(a, "19-search-dark");
    await a.emulateMedia({ colorScheme: "light" });
    await a.locator(`.channels a[data-channel="${history.id}"]`).click();
    await results.locator(".result", { hasText: "now edited" }).getByRole("button").click();
    await a.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
    await a.locator("article.message.highlight", { hasText: "now edited" }).waitFor();
    await a.getByRole("button", { name: "Close search" }).click();

    // --- jumping to a reply's original far back: older pages load until it is there --------
    const newest = await rest(a, "GET", `/channels/${history.id}/messages?limit=100`);
    const older = await rest(a, "GET", `/channels/${history.id}/messages?limit=100&before=${newest[newest.length - 1].id}`);
    const old = [...newest, ...older].find((m) => m.content === "history message 30");
    check(old, "history message 30 exists");
    await rest(b, "POST", `/channels/${history.id}/messages`, {
      content: "answering an old one",
      message_reference: { message_id: old.id },
    });
    await a.reload();
    await a.locator(`.channels a[data-channel="${history.id}"]`).click();
    const late = a.locator("article.message.reply", { hasText: "answering an old one" });
    await late.waitFor();
    check((await a.locator(`article[data-id="${old.id}"]`).count()) === 0, "the original is not loaded yet");
    await late.locator(".reply-preview").click();
    const original = a.locator(`article.message.highlight[data-id="${old.id}"]`);
    await original.waitFor();
    check(await original.evaluate((el) => {
      const box = el.getBoundingClientRect();
      const list = el.closest(".messages").getBoundingClientRect();
      return box.top >= list.top && box.bottom <= list.bottom;
    }), "the original is scrolled into view");

    // --- presence: Bob's status as Alice sees it --------------------------------------------
    await b.getByRole("button", { name: /^Status: / }).click();
    await b.getByRole("menuitemradio", { name: "Do not disturb" }).click();
    const bobInList = a.locator(`.members li:has(button[data-user="${bobId}"])`);
    await a.locator(`.members section[data-group="online"] button[data-user="${bobId}"] .presence[data-presence="dnd"]`).waitFor();
    await b.getByRole("button", { name: /^Status: / }).click();
    await b.getByRole("menuitemradio", { name: "Invisible" }).click();
    await a.locator(`.members section[data-group="offline"] button[data-user="${bobId}"]`).waitFor();
    check((await bobInList.getAttribute("data-presence")) === "offline", "invisible shows as offline");
    await shot(a, "20-presence-light");
    await b.getByRole("button", { name: /^Status: / }).click();
    await b.getByRole("menuitemradio", { name: "Online" }).click();
    await a.locator(`.members section[data-group="online"] button[data-user="${bobId}"] .presence[data-presence="online"]`).waitFor();

    // --- figures: guild switch, login to first channel --------------------------------------
    const second = await rest(a, "POST", "/guilds", { name: "Second Guild" });
    await a.locator(`.rail a[data-guild="${second.id}"]`).waitFor();
    await a.locator(`.rail a[data-guild="${second.id}"]`).click();
    await a.locator(".guild-header h1", { hasText: "Second Guild" }).waitFor();
    await a.waitForTimeout(800); // the prefetch of other guilds' channels has run
    const switches = [];
    for (let i = 0; i < 6; i++) {
      const to = i % 2 === 0 ? guildId : second.id;
      const ms = await a.evaluate(async (to) => {
        const link = document.querySelector(`.rail a[data-guild="${to}"]`);
        const start = performance.now();
        link.click();
        // Until the chat shows a channel of that guild with its messages (no spinner).
        for (;;) {
          await new Promise((r) => requestAnimationFrame(r));
          const path = location.pathname.split("/");
          const list = document.querySelector(".messages");
          if (path[2] === to && list && list.dataset.channel === path[3] && !list.querySelector(".history-loading:not(:empty)")) {
            return performance.now() - start;
          }
        }
      }, to);
      switches.push(ms);
    }
    switches.sort((x, y) => x - y);
    figures.guild_switch_ms_median = Math.round(switches[Math.floor(switches.length / 2)]);
    figures.guild_switch_ms_max = Math.round(switches[switches.length - 1]);

    const ctxC = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const c = await ctxC.newPage();
    watch(c, "alice-again");
    c.setDefaultTimeout(T);
    await c.goto(BASE + "/login");
    await c.getByLabel("Username").fill(alice.name);
    await c.getByLabel("Password").fill(alice.password);
    await c.locator("form.auth-card button[type=submit]").click();
    await c.locator(".messages article.message").first().waitFor();
    figures.login_to_first_channel_ms = Math.round(
      await c.evaluate(() => performance.measure("login", "spectrus:login", "spectrus:first-channel").duration),
    );
    await ctxC.close();

  });
}

await main();
