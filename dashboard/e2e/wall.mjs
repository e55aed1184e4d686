// End-to-end check of the wall page in headless Chromium, driven by
// services/samu-central/tests/wall_page.rs (which starts the demo server and
// sends the status change through gRPC). Protocol on stdout/stdin, one line
// each:
//
//   -> READY <n> <ms>     the page shows <n> unit markers (<ms> since load)
//   <- SENT               the Rust side has just sent the change
//   -> SEEN <ms>          the page shows it, <ms> after SENT
//   -> SHOT <path>        screenshot written
//
// Environment: WALL_URL (page URL with ?token=…), WALL_UNITS (markers to wait
// for), WALL_UNIT, WALL_STATUS, WALL_REASON (the change to expect),
// WALL_SCREENSHOT (PNG path, optional), CHROMIUM (default /usr/bin/chromium).
// Any failure prints "FAIL <why>" and exits 1.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
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

const url = env("WALL_URL");
const expectUnits = Number(env("WALL_UNITS", "69"));
const unit = env("WALL_UNIT");
const status = env("WALL_STATUS", "out_of_service");
const reason = env("WALL_REASON", "maintenance");
const screenshot = process.env.WALL_SCREENSHOT ?? "";
const executablePath = env("CHROMIUM", "/usr/bin/chromium");
const changeWithinMs = Number(env("WALL_CHANGE_WITHIN_MS", "2000"));

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

const lines = createInterface({ input: process.stdin });
const nextLine = () =>
  new Promise((resolve, reject) => {
    lines.once("line", resolve);
    lines.once("close", () => reject(new Error("stdin closed")));
  });

const profile = mkdtempSync(join(tmpdir(), "samu-wall-chromium-"));
let context;
const problems = [];
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
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });

  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 15000 });
  try {
    await page.waitForFunction(
      (n) => document.querySelectorAll("#map .unit-marker[data-unit-id]").length === n,
      expectUnits,
      { timeout: 30000, polling: 100 },
    );
  } catch {
    const seen = await page.evaluate(() => document.querySelectorAll("#map .unit-marker").length);
    fail(`the page showed ${seen} unit markers, not ${expectUnits}, within 30 s (${problems.join("; ") || "no page errors"})`);
  }
  // A marker must be in view and styled (Leaflet laid it out, CSS loaded).
  const box = await page.locator(`#map .unit-marker[data-unit-id="${unit}"]`).boundingBox();
  if (!box || box.width < 20 || box.height < 15) fail(`the marker of ${unit} is not drawn (${JSON.stringify(box)})`);
  process.stdout.write(`READY ${expectUnits} ${Date.now() - t0}\n`);

  const go = (await nextLine()).trim();
  if (go !== "SENT") fail(`expected SENT, got ${go}`);
  const sent = Date.now();
  try {
    await page.waitForFunction(
      ({ unit, status, reason }) => {
        const marker = document.querySelector(`#map .unit-marker[data-unit-id="${unit}"]`);
        const reasonOk = status !== "out_of_service" || marker?.dataset.reason === reason;
        return marker && marker.dataset.status === status && reasonOk;
      },
      { unit, status, reason },
      { timeout: changeWithinMs, polling: 20 },
    );
  } catch {
    const now = await page.evaluate(
      (u) => document.querySelector(`#map .unit-marker[data-unit-id="${u}"]`)?.dataset.status ?? "no marker",
      unit,
    );
    fail(`${unit} did not show ${status}/${reason} within ${changeWithinMs} ms (it shows ${now})`);
  }
  process.stdout.write(`SEEN ${Date.now() - sent}\n`);
  // The out-of-service list shows it with the reason in Portuguese (or, when
  // the list is longer than its box, counts it in its "+ N" line).
  if (status === "out_of_service") {
    try {
      await page.waitForFunction(
        (unit) => {
          const entry = document.querySelector(`#oos-list li[data-unit-id="${unit}"]`);
          return entry ? entry.innerText.includes("manutenção") : document.querySelector("#oos-list li.more") !== null;
        },
        unit,
        { timeout: 1000, polling: 50 },
      );
    } catch {
      const text = await page.locator("#oos-list").innerText();
      fail(`the out-of-service list does not show ${unit} for maintenance: "${text.replaceAll("\n", " | ")}"`);
    }
  }

  // The wall never scrolls.
  const overflow = await page.evaluate(() => ({
    w: document.documentElement.scrollWidth,
    h: document.documentElement.scrollHeight,
  }));
  if (overflow.w > 1920 || overflow.h > 1080) fail(`the page is larger than the screen: ${overflow.w}×${overflow.h}`);
  const conn = await page.evaluate(() => document.body.dataset.connection);
  if (conn !== "live") fail(`the connection state reads "${conn}", not live`);
  if (problems.length) fail(problems.join("; "));

  if (screenshot) {
    // Let the markers finish gliding before the picture.
    await page.waitForTimeout(1200);
    await page.screenshot({ path: screenshot, type: "png" });
    process.stdout.write(`SHOT ${screenshot}\n`);
  }
  process.stdout.write("DONE\n");
} catch (e) {
  const why = e instanceof Failure ? e.message : `unexpected error: ${String(e?.message ?? e).split("\n")[0]}`;
  process.stdout.write(`FAIL ${why}\n`);
  process.exitCode = 1;
} finally {
  lines.close();
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(process.exitCode ?? 0);
