// Administration in the browser, end to end, on a fresh server (so Alice, registering
// first, is the instance's admin). Alice owns a guild that Bob, Carol and Dave joined.
// In the server settings she creates a coloured, hoisted role and gives it to Bob (his
// name takes the colour in both member lists), creates a channel and hides it from
// everyone with an overwrite (it leaves Bob's sidebar), times Bob out and back, kicks
// Dave (who comes back, is banned and unbanned), bans Carol, revokes the invite, and
// reads all of it in the audit log. She also builds a category with channels in it
// (created, moved into it, reordered, renamed, deleted), which Bob's sidebar follows
// live; the settings have addresses (Back closes them, Forward reopens them, a link opens
// a section). Bob sets his nickname by a link to his server profile, and Alice sees it
// in the member list and on his message. Bob, a moderator now, sees only the sections
// his role allows. The instance's diagnostics
// view is there for Alice and absent for Bob (whose API call gets 403, code 50013).
// Screenshots of the settings, audit log and diagnostics, light and dark.
//
//   node tests/web/admin.mjs --base http://127.0.0.1:PORT --out DIR

import { T, check, launch, options, registerByApi, rest, runScenario, shot as shotIn, watch } from "./common.mjs";

const { base: BASE, out: OUT, chromium: CHROMIUM } = options();
const problems = [];
const figures = {};
const shot = (page, name) => shotIn(page, OUT, name);

/** A REST call with another person's token (people without a browser here). */
async function restAs(page, token, method, path, body) {
  return page.evaluate(
    async ({ token, method, path, body }) => {
      const response = await fetch(`/api/v10${path}`, {
        method,
        headers: { "Content-Type": "application/json", Authorization: token },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return response.status === 204 ? null : response.json();
    },
    { token, method, path, body },
  );
}

/** Both themes of the same view: light as the context is, then dark. */
async function shotBoth(page, name) {
  await shot(page, `${name}-light`);
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, `${name}-dark`);
  await page.emulateMedia({ colorScheme: "light" });
}

async function main() {
  const browser = await launch(CHROMIUM);
  await runScenario({ browser, out: OUT, problems, figures }, async () => {
    const ctxA = await browser.newContext({ viewport: { width: 1280, height: 820 }, colorScheme: "light" });
    const ctxB = await browser.newContext({ viewport: { width: 1200, height: 780 }, colorScheme: "dark" });
    const a = await ctxA.newPage();
    const b = await ctxB.newPage();
    watch(a, "alice", problems);
    watch(b, "bob", problems);
    a.setDefaultTimeout(T);
    b.setDefaultTimeout(T);

    const suffix = Date.now().toString(36).slice(-5);
    const alice = await registerByApi(a, BASE, `admin_${suffix}`, "correct horse battery");
    const bob_name = `bob_${suffix}`;
    const bob = await registerByApi(b, BASE, bob_name, "another long passphrase");
    const carol = await rest(a, "POST", "/auth/register", { username: `carol_${suffix}`, password: "a third passphrase" });
    const dave = await rest(a, "POST", "/auth/register", { username: `dave_${suffix}`, password: "a fourth passphrase" });
    const me = await rest(a, "GET", "/users/@me");
    check((me.flags & 1) === 1, `the first account is an instance admin (flags ${me.flags})`);

    const guild = await rest(a, "POST", "/guilds", { name: "Admin Guild" });
    const channels = await rest(a, "GET", `/guilds/${guild.id}/channels`);
    const general = channels.find((c) => c.type === 0);
    const invite = await rest(a, "POST", `/channels/${general.id}/invites`, {});
    await rest(b, "POST", `/invites/${invite.code}`);
    await restAs(a, carol.token, "POST", `/invites/${invite.code}`);
    await restAs(a, dave.token, "POST", `/invites/${invite.code}`);

    for (const page of [a, b]) {
      await page.goto(`${BASE}/channels/${guild.id}/${general.id}`);
      await page.locator(".chat-header .channel-name", { hasText: "general" }).waitFor();
      await page.locator(`.members button[data-user="${dave.user_id}"]`).waitFor();
    }
    // Members may set their own nickname: their settings hold only their server profile.
    await b.getByRole("button", { name: "Server settings" }).click();
    const bobProfile = b.getByRole("dialog", { name: "Server settings" });
    await bobProfile.locator('[data-section="profile"]').waitFor();
    const plainTabs = await bobProfile.locator(".settings-tab").evaluateAll((tabs) => tabs.map((t) => t.dataset.section));
    check(JSON.stringify(plainTabs) === JSON.stringify(["profile"]), `a member's sections: ${plainTabs}`);
    await b.getByRole("button", { name: "Close settings" }).click();
    await bobProfile.waitFor({ state: "detached" });

    // --- a role with a colour, shown separately, allowed to kick ----------------------------
    await a.getByRole("button", { name: "Server settings" }).click();
    const settings = a.getByRole("dialog", { name: "Server settings" });
    await settings.locator('[data-section="roles"]').click();
    await settings.getByRole("button", { name: "Create role" }).click();
    const editor = settings.locator("form.role-editor");
    await editor.getByLabel("Role name").fill("Moderators");
    await editor.getByRole("button", { name: "Colour #e67e22" }).click();
    await editor.getByLabel("Show members with this role separately in the member list").check();
    await editor.locator('input[name="KICK_MEMBERS"]').check();
    await editor.locator('input[name="MODERATE_MEMBERS"]').check();
    await editor.getByRole("button", { name: "Save changes" }).click();
    await editor.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    await settings.locator(".pick-list button", { hasText: "Moderators" }).waitFor();
    await settings.locator(".settings-main").evaluate((el) => el.scrollTo(0, 0));
    await shotBoth(a, "21-settings-roles");

    // --- Bob gets the role: his name takes its colour, in its own group ----------------------
    await settings.locator('[data-section="members"]').click();
    const bobRow = settings.locator(`tr[data-user="${bob.user_id}"]`);
    await bobRow.getByLabel(/^Add a role to /).selectOption({ label: "Moderators" });
    await bobRow.locator(".chip", { hasText: "Moderators" }).waitFor();
    await shotBoth(a, "22-settings-members");
    const orange = "rgb(230, 126, 34)";
    const colourOf = (page) =>
      page.locator(`.members section[data-group] button[data-user="${bob.user_id}"] .name`).evaluate((el) => getComputedStyle(el).color);

    // --- a channel hidden from everyone by an overwrite -------------------------------------
    await settings.locator('[data-section="channels"]').click();
    await settings.getByLabel("New channel name").fill("secret");
    await settings.getByRole("button", { name: "Create channel" }).click();
    await settings.locator('.pick-list button[aria-current="true"]', { hasText: "secret" }).waitFor();
    const secret = (await rest(a, "GET", `/guilds/${guild.id}/channels`)).find((c) => c.name === "secret");
    check(secret, "the channel was made");
    await b.locator(`.channels a[data-channel="${secret.id}"]`).waitFor(); // Bob sees it at first
    await settings.getByLabel("Add an overwrite for").selectOption({ label: "@everyone" });
    await settings.getByRole("radio", { name: "View channels: deny" }).click();
    await settings.getByRole("button", { name: "Save permissions" }).click();
    await settings.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    await shotBoth(a, "23-settings-channel-permissions");
    await b.locator(`.channels a[data-channel="${secret.id}"]`).waitFor({ state: "detached" });
    check((await a.locator(`.channels a[data-channel="${secret.id}"]`).count()) === 1, "the owner still sees it");

    // --- settings have addresses; channels in a category, live in Bob's sidebar ----------------
    await a.waitForURL(`${BASE}/channels/${guild.id}/settings/channels`);
    const create = async (name, type) => {
      await settings.getByLabel("Channel type").selectOption(String(type));
      await settings.getByLabel("New channel name").fill(name);
      await settings.getByRole("button", { name: "Create channel" }).click();
      await settings.locator('.pick-list button[aria-current="true"]', { hasText: name }).waitFor();
    };
    const intoCategory = async (name, category) => {
      await settings.locator(".pick-list button[data-channel]", { hasText: name }).click();
      await settings.getByLabel("Category", { exact: true }).selectOption({ label: category });
      await settings.getByRole("button", { name: "Save changes" }).click();
      await settings.locator(".channel-editor").getByRole("status").filter({ hasText: "Saved" }).waitFor();
    };
    await create("projects", 4);
    await create("plans", 0);
    await create("notes", 0);
    await create("standup", 2);
    for (const name of ["plans", "notes", "standup"]) await intoCategory(name, "projects");
    const made = await rest(a, "GET", `/guilds/${guild.id}/channels`);
    const idOf = (name) => made.find((c) => c.name === name).id;
    const [projects, plans, notes, standup] = ["projects", "plans", "notes", "standup"].map(idOf);
    for (const c of made.filter((c) => [plans, notes, standup].includes(c.id))) {
      check(c.parent_id === projects, `${c.name} is in the category (${c.parent_id})`);
    }
    // Bob's sidebar: the category, then its text channels, then its voice channel.
    const sidebarOrder = (page) =>
      page.locator(".channels > ul > li").evaluateAll((items) =>
        items.map((li) => (li.classList.contains("category") ? `#${li.textContent.trim()}` : li.querySelector("[data-channel]")?.dataset.channel ?? li.dataset.channel)),
      );
    const waitForOrder = async (page, wanted) => {
      await page.waitForFunction(
        (wanted) => {
          const items = [...document.querySelectorAll(".channels > ul > li")].map((li) =>
            li.classList.contains("category") ? `#${li.textContent.trim()}` : li.querySelector("[data-channel]")?.dataset.channel ?? li.dataset.channel,
          );
          const at = items.indexOf(wanted[0]);
          return at >= 0 && JSON.stringify(items.slice(at, at + wanted.length)) === JSON.stringify(wanted);
        },
        wanted,
      );
    };
    const before = await b.locator(".channels > ul > li").count();
    await waitForOrder(b, ["#projects", plans, notes, standup]).catch(async (error) => {
      throw new Error(`Bob's sidebar: ${JSON.stringify(await sidebarOrder(b))} (${before} items): ${error}`);
    });
    // Reorder within the category: notes goes above plans.
    await settings.getByRole("button", { name: "Move notes up" }).click();
    await waitForOrder(b, ["#projects", notes, plans, standup]);
    await waitForOrder(a, ["#projects", notes, plans, standup]);
    const moved = await rest(a, "GET", `/guilds/${guild.id}/channels`);
    const pos = (id) => moved.find((c) => c.id === id).position;
    check(pos(notes) < pos(plans), `positions: notes ${pos(notes)}, plans ${pos(plans)}`);
    // Rename notes, delete plans.
    await settings.locator(".pick-list button[data-channel]", { hasText: "notes" }).click();
    await settings.getByLabel("Channel name", { exact: true }).fill("minutes");
    await settings.getByRole("button", { name: "Save changes" }).click();
    await b.locator(`.channels a[data-channel="${notes}"] .name`, { hasText: "minutes" }).waitFor();
    await settings.locator(".pick-list button[data-channel]", { hasText: "plans" }).click();
    await settings.getByRole("button", { name: "Delete channel" }).click();
    await settings.getByRole("button", { name: "Really delete?" }).click();
    await settings.locator(`.pick-list button[data-channel="${plans}"]`).waitFor({ state: "detached" });
    await a.locator(`.channels a[data-channel="${plans}"]`).waitFor({ state: "detached" });
    await b.locator(`.channels a[data-channel="${plans}"]`).waitFor({ state: "detached" });
    await settings.locator(".pick-list button[data-channel]", { hasText: "minutes" }).click();
    await a.mouse.move(5, 5);
    await shotBoth(a, "27-settings-channels");
    await shot(b, "28-sidebar-category-dark");
    // Back closes the settings, Forward opens them again where they were.
    await a.goBack();
    await settings.waitFor({ state: "detached" });
    check(a.url() === `${BASE}/channels/${guild.id}/${general.id}`, `back at the channel: ${a.url()}`);
    await a.goForward();
    await settings.locator('[data-section="channels"][aria-current="page"]').waitFor();
    check(a.url() === `${BASE}/channels/${guild.id}/settings/channels`, `settings again: ${a.url()}`);

    // --- timeout, kick, ban ----------------------------------------------------------------
    await settings.locator('[data-section="members"]').click();
    await bobRow.getByLabel(/^Time out /).selectOption({ label: "1 hour" });
    await bobRow.locator(".tag", { hasText: "TIMED OUT" }).waitFor();
    await bobRow.getByRole("button", { name: "End timeout" }).click();
    await bobRow.locator(".tag", { hasText: "TIMED OUT" }).waitFor({ state: "detached" });
    const daveRow = settings.locator(`tr[data-user="${dave.user_id}"]`);
    await daveRow.getByRole("button", { name: "Kick" }).click();
    await daveRow.getByRole("button", { name: /^Kick .*\?$/ }).click();
    await daveRow.waitFor({ state: "detached" });
    const carolRow = settings.locator(`tr[data-user="${carol.user_id}"]`);
    await carolRow.getByRole("button", { name: "Ban" }).click();
    await carolRow.getByRole("button", { name: /^Ban .*\?$/ }).click();
    await carolRow.waitFor({ state: "detached" });
    await b.locator(`.members button[data-user="${carol.user_id}"]`).waitFor({ state: "detached" });
    await settings.locator('[data-section="bans"]').click();
    await settings.locator(`tr[data-user="${carol.user_id}"]`).waitFor();
    await restAs(a, dave.token, "POST", `/invites/${invite.code}`); // a kick is no ban: Dave may come back
    await settings.locator('[data-section="members"]').click();
    await daveRow.getByRole("button", { name: "Ban" }).click();
    await daveRow.getByRole("button", { name: /^Ban .*\?$/ }).click();
    await daveRow.waitFor({ state: "detached" });
    await settings.locator('[data-section="bans"]').click();
    const daveBan = settings.locator(`tr[data-user="${dave.user_id}"]`);
    await daveBan.getByRole("button", { name: "Unban" }).click();
    await daveBan.getByRole("button", { name: "Really unban?" }).click();
    await daveBan.waitFor({ state: "detached" });
    await settings.locator(`tr[data-user="${carol.user_id}"]`).waitFor();

    // --- invites: listed, then revoked --------------------------------------------------------
    await settings.locator('[data-section="invites"]').click();
    await settings.locator(`tr[data-invite="${invite.code}"]`).waitFor();
    await settings.locator(`tr[data-invite="${invite.code}"]`).getByRole("button", { name: "Revoke" }).click();
    await settings.getByRole("button", { name: "Really revoke?" }).click();
    await settings.getByText("No invites are active.").waitFor();

    // --- the audit log tells all of it ------------------------------------------------------
    await settings.locator('[data-section="audit"]').click();
    const log = settings.locator(".audit-list");
    for (const [action, text] of [
      [30, "created the role"],
      [25, "changed the roles of"],
      [13, "added permissions to"],
      [24, "updated the member"],
      [20, "kicked"],
      [22, "banned"],
      [23, "unbanned"],
      [42, "deleted the invite"],
    ]) {
      await log.locator(`.audit-entry[data-action="${action}"]`, { hasText: text }).first().waitFor();
    }
    check(
      (await log.locator('.audit-entry[data-action="25"]').first().innerText()).includes("added @Moderators"),
      "the role change names the role",
    );
    check(
      (await log.locator('.audit-entry[data-action="13"]').first().innerText()).includes("View channels"),
      "the overwrite names the permission",
    );
    await a.mouse.move(5, 5);
    await shotBoth(a, "24-audit-log");
    await a.getByRole("button", { name: "Close settings" }).click();
    await settings.waitFor({ state: "detached" });

    // The role's colour, in Alice's member list and in Bob's own, in the role's group.
    await a.locator(`.members section[data-group] button[data-user="${bob.user_id}"]`).waitFor();
    check((await colourOf(a)) === orange, `Bob's name is orange for Alice (${await colourOf(a)})`);
    await b.locator(`.members section[data-group]:has(h2:text("Moderators")) button[data-user="${bob.user_id}"]`).waitFor();
    check((await colourOf(b)) === orange, `Bob's name is orange for Bob (${await colourOf(b)})`);
    await shot(a, "25-role-colour-light");

    // --- Bob's nickname, set through a link to his server profile -------------------------------
    await b.goto(`${BASE}/channels/${guild.id}/settings/profile`);
    const profile = b.getByRole("dialog", { name: "Server settings" });
    await profile.locator('[data-section="profile"][aria-current="page"]').waitFor();
    await profile.getByLabel("Nickname").fill("Bobby Tables");
    await profile.getByRole("button", { name: "Save nickname" }).click();
    await profile.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    await shotBoth(b, "29-server-profile");
    await b.getByRole("button", { name: "Close settings" }).click();
    await profile.waitFor({ state: "detached" });
    await b.waitForURL(`${BASE}/channels/${guild.id}/${general.id}`);
    await a.locator(`.members button[data-user="${bob.user_id}"] .name`, { hasText: "Bobby Tables" }).waitFor();
    await rest(b, "POST", `/channels/${general.id}/messages`, { content: "call me Bobby" });
    await a.locator(`.message[data-author="${bob_name}"] .author`, { hasText: "Bobby Tables" }).first().waitFor();
    await b.locator(`.message[data-author="${bob_name}"] .author`, { hasText: "Bobby Tables" }).first().waitFor();

    // --- Bob, a moderator now, gets the sections his role allows ----------------------------
    await b.getByRole("button", { name: "Server settings" }).click();
    const bobSettings = b.getByRole("dialog", { name: "Server settings" });
    await bobSettings.locator('[data-section="members"]').waitFor();
    const sections = await bobSettings.locator(".settings-tab").evaluateAll((tabs) => tabs.map((t) => t.dataset.section));
    check(JSON.stringify(sections) === JSON.stringify(["profile", "members"]), `Bob's sections: ${sections}`);
    await b.getByRole("button", { name: "Close settings" }).click();

    // --- the instance's diagnostics: Alice's, not Bob's ----------------------------------------
    check((await b.getByRole("button", { name: "Instance diagnostics" }).count()) === 0, "no diagnostics entry for Bob");
    const refused = await rest(b, "GET", "/diag");
    check(refused.code === 50013, `Bob is refused /diag: ${JSON.stringify(refused)}`);
    await a.getByRole("button", { name: "Instance diagnostics" }).click();
    const diag = a.getByRole("dialog", { name: "Instance diagnostics" });
    await diag.locator('.card[data-total="processes"] .card-value').waitFor();
    await diag.locator('table[aria-label="Processes"] tbody tr').first().waitFor();
    const cards = await diag.locator(".card").count();
    check(cards === 5, `five totals (${cards})`);
    check((await diag.locator('.card[data-total="connections"] .card-value').innerText()) !== "0", "gateway connections are counted");
    await diag.locator('table[aria-label="Media nodes"] tbody tr').first().waitFor();
    figures.diag_processes = await diag.locator('table[aria-label="Processes"] tbody tr').count();
    await shotBoth(a, "26-diag");
    await a.getByRole("button", { name: "Close settings" }).click();

  });
}

await main();
