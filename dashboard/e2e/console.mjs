// End-to-end check of the console page in headless Chromium, driven by
// services/samu-central/tests/console_page.rs (which starts the demo server
// and afterwards checks the wall feed). One occurrence, three people:
//
//   the TARM takes a call with a location   -> CALL <id> <number>
//   the physician regulates it (vermelho,   -> REGULATED <id>
//     send one USA)
//   the radio operator sees the             -> RECOMMENDED <unit> <rows>
//     recommendation and dispatches the
//     first USA with one click              -> DISPATCHED <id> <unit>
//   screenshot (optional)                   -> SHOT <path>
//                                           -> DONE
//
// Environment: CONSOLE_URL (http://host:port/console), CONSOLE_USERS (JSON:
// {"tarm": {"username", "password"}, "physician": …, "radio_operator": …}),
// CONSOLE_CENTRAL (IBGE code, default 3106200), CONSOLE_LAT / CONSOLE_LON
// (the call's location, default -19.92 / -43.94), CONSOLE_SCREENSHOT (PNG
// path, optional), CONSOLE_FAIL_SCREENSHOT (PNG of the page on a failure,
// optional), CHROMIUM (default /usr/bin/chromium).
// Any failure prints "FAIL <why>" and exits 1. Nothing personal is printed.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

class Failure extends Error {}

/** Ends the check: the catch below prints "FAIL <why>" and cleans up. */
function fail(why) {
  throw new Failure(why);
}

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) {
    process.stdout.write(`FAIL ${name} is not set\n`);
    process.exit(1);
  }
  return v;
};

const url = env("CONSOLE_URL");
const users = JSON.parse(env("CONSOLE_USERS"));
const central = env("CONSOLE_CENTRAL", "3106200");
const lat = Number(env("CONSOLE_LAT", "-19.92"));
const lon = Number(env("CONSOLE_LON", "-43.94"));
const screenshot = process.env.CONSOLE_SCREENSHOT ?? "";
const executablePath = env("CHROMIUM", "/usr/bin/chromium");
const say = (line) => process.stdout.write(`${line}\n`);

const ROLE_PT = { tarm: "TARM", physician: "Médico regulador", radio_operator: "Rádio-operador", manager: "Gestor" };

// The machine's network is closed: no background traffic, no updates, no
// QUIC. Playwright adds --headless itself; the profile is a fresh temp dir.
const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const profile = mkdtempSync(join(tmpdir(), "samu-console-chromium-"));
let context;
const problems = [];
let page;

/** Waits for `fn(arg)` to be true in the page, or fails saying `what`. */
async function until(what, fn, arg, timeout = 10000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    const notice = await page.evaluate(() => {
      const n = document.getElementById("notice");
      return n && !n.hidden ? n.textContent : "";
    });
    fail(`${what} within ${timeout} ms${notice ? ` (the page says: "${notice}")` : ""}${problems.length ? ` [${problems.join("; ")}]` : ""}`);
  }
}

async function login(role, { wrongPasswordFirst = false } = {}) {
  const user = users[role];
  if (!user?.username || !user?.password) fail(`no credentials for ${role} in CONSOLE_USERS`);
  await until("the login form", () => document.body.dataset.screen === "login");
  if (wrongPasswordFirst) {
    // The server's 401 reads as a wrong pair, and the page stays on the login.
    await page.fill("#login-form [name=username]", user.username);
    await page.fill("#login-form [name=password]", `${user.password}-errada`);
    await page.click("#login-form button[type=submit]");
    await until(
      "the refusal of a wrong password",
      () => document.getElementById("login-error").textContent.includes("incorretos") && document.body.dataset.screen === "login",
    );
  }
  await page.fill("#login-form [name=username]", user.username);
  await page.fill("#login-form [name=password]", user.password);
  await page.click("#login-form button[type=submit]");
  await until(
    `${role} logged in`,
    (r) => document.body.dataset.screen === "work" && document.body.dataset.role === r,
    role,
  );
  const shown = await page.locator("#user-role").innerText();
  if (shown !== ROLE_PT[role]) fail(`the header shows the role "${shown}", not "${ROLE_PT[role]}"`);
  if (!(await page.locator("#user-name").innerText()).trim()) fail("the header shows no user name");
  // A state-level user picks the central.
  if (await page.locator("#central-pick").isVisible()) await page.selectOption("#central-select", central);
  await until(
    `the live queues of ${central} for ${role}`,
    (c) => document.body.dataset.central === c && document.body.dataset.connection === "live",
    central,
  );
}

async function logout() {
  await page.click("#logout");
  await until("the login form after logout", () => document.body.dataset.screen === "login");
}

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args,
    viewport: { width: 1920, height: 1080 },
    deviceScaleFactor: 1,
    timezoneId: "America/Sao_Paulo",
    locale: "pt-BR",
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // Chromium logs the login refused on purpose below as a failed load.
    if (m.text().includes("status of 401") && m.location()?.url?.endsWith("/api/v1/session")) return;
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("dialog", (d) => {
    problems.push(`unexpected browser dialog: ${d.type()}`);
    d.dismiss().catch(() => {});
  });

  await page.goto(url, { waitUntil: "load", timeout: 15000 });

  // --- the TARM takes the call ---------------------------------------------------
  await login("tarm", { wrongPasswordFirst: true });
  if ((await page.getAttribute("[data-tab=intake]", "aria-selected")) !== "true") fail("the TARM does not start on Atendimento");
  const form = "#intake-form";
  if ((await page.inputValue(`${form} [name=municipality]`)) !== central) fail("the municipality does not default to the central");
  // The form refuses a call without a phone, naming the field.
  await page.click(`${form} [data-action=register]`);
  await until(
    "the intake form's refusal of a call without a phone",
    () => document.querySelector("[data-error-for=intake]").textContent.includes("telefone") &&
      document.querySelector("#intake-form [name=caller_phone]").getAttribute("aria-invalid") === "true",
  );
  // A click on the map fills the coordinates.
  const map = await page.locator("#picker-map").boundingBox();
  if (!map || map.width < 100 || map.height < 100) fail(`the intake map is not drawn (${JSON.stringify(map)})`);
  await page.mouse.click(map.x + map.width / 2, map.y + map.height / 2);
  await until("coordinates from a click on the map", () => {
    const f = document.getElementById("intake-form");
    return f.lat.value !== "" && f.lon.value !== "";
  });
  await page.fill(`${form} [name=caller_phone]`, "(31) 3277-0000");
  await page.fill(`${form} [name=caller_name]`, "Solicitante de Teste");
  await page.fill(`${form} [name=address]`, "Avenida Afonso Pena, 1212, Centro");
  await page.fill(`${form} [name=reference_point]`, "em frente ao parque");
  await page.selectOption(`${form} [name=nature]`, "trauma");
  await page.fill(`${form} [name=complaint]`, "Queda de moto, consciente, dor na perna");
  await page.fill(`${form} [name=patient_name]`, "Paciente de Teste");
  await page.fill(`${form} [name=patient_age]`, "34");
  // Typed the Brazilian way, with a decimal comma.
  await page.fill(`${form} [name=lat]`, String(lat).replace(".", ","));
  await page.fill(`${form} [name=lon]`, String(lon).replace(".", ","));
  await page.click(`${form} [data-action=register]`);
  await until(
    "the new call selected and its detail read",
    () => {
      const d = document.getElementById("detail");
      return d.dataset.occurrenceId && d.dataset.status === "awaiting_regulation" && d.dataset.loaded === "true";
    },
  );
  const id = await page.getAttribute("#detail", "data-occurrence-id");
  const number = await page.getAttribute("#detail", "data-number");
  const detailText = await page.locator("#detail").innerText();
  if (!detailText.includes("Afonso Pena")) fail("the detail does not show the call's address");
  if (!/\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}/.test(detailText)) fail("the detail shows no dd/mm/aaaa hh:mm time");
  // The live queue carries it too.
  await until("the call in the TARM's list", (i) => document.querySelector(`#intake-list li[data-occurrence-id="${i}"]`), id);
  if ((await page.inputValue(`${form} [name=caller_phone]`)) !== "") fail("the intake form was not cleared after the call");
  say(`CALL ${id} ${number}`);
  await logout();

  // --- the physician regulates it ------------------------------------------------
  await login("physician");
  if ((await page.getAttribute("[data-tab=regulation]", "aria-selected")) !== "true") fail("the physician does not start on Regulação");
  const queued = `#reg-queue li[data-occurrence-id="${id}"]`;
  await until("the call in the regulation queue", (s) => document.querySelector(s), queued);
  await page.click(queued);
  await until(
    "the call's detail with its timeline",
    (i) => {
      const d = document.getElementById("detail");
      return d.dataset.occurrenceId === i && d.dataset.loaded === "true" && d.querySelector(".timeline li[data-kind]");
    },
    id,
  );
  await page.click("#reg-form .prio-pick.p-vermelho");
  await page.click("#reg-form [name=decision][value=dispatch]");
  await page.click('#reg-form [data-count-step="1"][data-type="USA"]');
  if ((await page.inputValue("#reg-form [name=count-USA]")) !== "1") fail("the USA count did not go to 1");
  await page.click("#reg-form [data-action=regulate]");
  await until(
    "the occurrence regulated (awaiting dispatch)",
    (i) => {
      const d = document.getElementById("detail");
      return d.dataset.occurrenceId === i && d.dataset.status === "awaiting_dispatch";
    },
    id,
  );
  await until("the occurrence out of the regulation queue", (s) => !document.querySelector(s), queued);
  say(`REGULATED ${id}`);
  await logout();

  // --- the radio operator dispatches ---------------------------------------------
  await login("radio_operator");
  if ((await page.getAttribute("[data-tab=dispatch]", "aria-selected")) !== "true") fail("the radio operator does not start on Despacho");
  const onBoard = `#board [data-column=awaiting_dispatch] li[data-occurrence-id="${id}"]`;
  await until("the occurrence on the dispatch board", (s) => document.querySelector(s), onBoard);
  await page.click(onBoard);
  await until("the recommendation", () => document.querySelector("#rec-table tbody tr[data-unit]"), undefined, 15000);
  const first = page.locator("#rec-table tbody tr[data-unit]").first();
  const unit = await first.getAttribute("data-unit");
  const type = await first.getAttribute("data-type");
  if (type !== "USA") fail(`the first recommended unit is a ${type}, not a USA`);
  const cells = await first.locator("td").allInnerTexts();
  if (!/^\d+,\d$/.test(cells[3].trim())) fail(`the distance reads "${cells[3]}", not km with a decimal comma`);
  if (!/^\d+$/.test(cells[4].trim())) fail(`the ETA reads "${cells[4]}", not whole minutes`);
  const rows = await page.locator("#rec-table tbody tr[data-unit]").count();
  say(`RECOMMENDED ${unit} ${rows}`);
  await first.locator("button[data-dispatch]").click();
  await until(
    "the unit dispatched on the occurrence",
    (u) => document.querySelector(`#units-table tr[data-unit="${u}"][data-step="dispatched"]`),
    unit,
  );
  // Its step buttons: departing is next, arriving at the destination is not yet.
  const en = await page.locator(`#units-table button[data-unit="${unit}"][data-step="en_route"]`).isEnabled();
  if (!en) fail("the 'Saiu da base' button is not enabled after the dispatch");
  say(`DISPATCHED ${id} ${unit}`);

  // The console does not scroll as a whole: its panels do.
  const size = await page.evaluate(() => ({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight }));
  if (size.w > 1920 || size.h > 1080) fail(`the page is larger than the screen: ${size.w}×${size.h}`);
  if (problems.length) fail(problems.join("; "));

  if (screenshot) {
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshot, type: "png" });
    say(`SHOT ${screenshot}`);
  }
  say("DONE");
} catch (e) {
  const why = e instanceof Failure ? e.message : `unexpected error: ${String(e?.message ?? e).split("\n")[0]}`;
  // What the page showed when it failed, for whoever reads the failure.
  const failShot = process.env.CONSOLE_FAIL_SCREENSHOT;
  if (failShot && page) await page.screenshot({ path: failShot, type: "png" }).catch(() => {});
  say(`FAIL ${why}${failShot && page ? ` (page at ${failShot})` : ""}`);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(process.exitCode ?? 0);
