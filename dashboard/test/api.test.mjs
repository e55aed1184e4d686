// The console's API client (src/console/api.js): commands carry an
// Idempotency-Key and are resent with the same key when no answer came.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Api, ApiError, RESEND_AFTER_MS } from "../src/console/api.js";

/** A fetch that answers from a script: an Error to throw, or [status, body]. */
function scripted(answers) {
  const calls = [];
  const fetch = async (path, init) => {
    calls.push({ path, ...init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    const [status, body] = next;
    return { status, ok: status >= 200 && status < 300, text: async () => JSON.stringify(body) };
  };
  return { fetch, calls };
}

function api(answers) {
  const { fetch, calls } = scripted(answers);
  const slept = [];
  let n = 0;
  const client = new Api(() => "tok", () => {}, {
    fetch,
    sleep: async (ms) => slept.push(ms),
    newKey: () => `key-${++n}`,
  });
  return { client, calls, slept };
}

test("a command lost on the way is resent with the same key, once answered it stops", async () => {
  const { client, calls, slept } = api([
    new TypeError("network down"),
    [503, { error: "unavailable", code: "unavailable", message: "store" }],
    [200, { summary: { id: "o1" } }],
  ]);
  const out = await client.regulate("o1", { priority: "vermelho" });
  assert.equal(out.summary.id, "o1");
  assert.equal(calls.length, 3);
  assert.deepEqual(calls.map((c) => c.headers["idempotency-key"]), ["key-1", "key-1", "key-1"]);
  assert.deepEqual(slept, RESEND_AFTER_MS.slice(0, 2));
  assert.equal(calls[0].headers.authorization, "Bearer tok");
});

test("each command has its own key; refusals are not resent", async () => {
  const { client, calls } = api([
    [201, { summary: { id: "o2" } }],
    [409, { error: "conflict", message: "já regulada" }],
  ]);
  await client.createOccurrence({ central: "3106200" });
  await assert.rejects(client.close("o2"), (e) => e instanceof ApiError && e.status === 409);
  assert.deepEqual(calls.map((c) => c.headers["idempotency-key"]), ["key-1", "key-2"]);
});

test("a server that stays away is given up on after the last resend", async () => {
  const { client, calls } = api(Array.from({ length: 10 }, () => new TypeError("down")));
  await assert.rejects(client.dispatch("o3", "bh-usa-01"), (e) => e.status === 0);
  assert.equal(calls.length, RESEND_AFTER_MS.length + 1);
});

test("reads carry no key", async () => {
  const { client, calls } = api([[200, { summary: { id: "o4" } }]]);
  await client.occurrence("o4");
  assert.equal(calls[0].headers["idempotency-key"], undefined);
});
