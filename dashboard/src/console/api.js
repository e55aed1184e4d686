// The console API over fetch (docs/console-api.md): JSON in and out, the
// session's token as a bearer, errors as ApiError {status, error, field,
// message}. Nothing here logs: bodies carry personal data.

export class ApiError extends Error {
  constructor(status, { error, field, message } = {}) {
    super(message ?? "");
    this.status = status;
    this.error = error ?? null;
    this.field = field ?? null;
  }
}

// Waits before each resend of a command that got no answer (ms).
export const RESEND_AFTER_MS = [500, 1500, 4000];

export class Api {
  /**
   * @param {() => string} token the current session's token ("" for none)
   * @param {(err: ApiError) => void} onUnauthorized called on every 401
   * @param {{fetch?: typeof fetch, sleep?: (ms: number) => Promise<void>, newKey?: () => string}} [io]
   */
  constructor(token, onUnauthorized, io = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.fetch = io.fetch ?? ((...args) => fetch(...args));
    this.sleep = io.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.newKey = io.newKey ?? (() => crypto.randomUUID());
  }

  /**
   * A command on an occurrence: sent with an Idempotency-Key, and sent again
   * with the same key when no answer came (network down, server restarting:
   * 0 or 503), so the server records it once whatever happened to the first
   * answer.
   */
  async command(path, body) {
    const key = this.newKey();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request("POST", path, body, key);
      } catch (err) {
        const unanswered = err instanceof ApiError && (err.status === 0 || err.status === 503);
        if (!unanswered || attempt >= RESEND_AFTER_MS.length) throw err;
        await this.sleep(RESEND_AFTER_MS[attempt]);
      }
    }
  }

  async request(method, path, body, idempotencyKey) {
    const headers = { accept: "application/json" };
    const t = this.token();
    if (t) headers.authorization = `Bearer ${t}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    let res;
    try {
      res = await this.fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, { error: "network", message: "" });
    }
    if (res.status === 204) return null;
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const err = new ApiError(res.status, data && typeof data === "object" ? data : {});
      if (res.status === 401 && path !== "/api/v1/session") this.onUnauthorized(err);
      throw err;
    }
    return data;
  }

  login(username, password) {
    return this.request("POST", "/api/v1/session", { username, password });
  }

  logout() {
    return this.request("DELETE", "/api/v1/session");
  }

  session() {
    return this.request("GET", "/api/v1/session");
  }

  occurrence(id) {
    return this.request("GET", `/api/v1/occurrences/${encodeURIComponent(id)}`);
  }

  openOccurrences(central) {
    return this.request("GET", `/api/v1/occurrences?central=${encodeURIComponent(central)}&open=true`);
  }

  createOccurrence(body) {
    return this.command("/api/v1/occurrences", body);
  }

  nonCase(id, reason, note) {
    return this.command(`/api/v1/occurrences/${encodeURIComponent(id)}/non-case`, note ? { reason, note } : { reason });
  }

  regulate(id, body) {
    return this.command(`/api/v1/occurrences/${encodeURIComponent(id)}/regulation`, body);
  }

  recommendation(id) {
    return this.request("GET", `/api/v1/occurrences/${encodeURIComponent(id)}/recommendation`);
  }

  dispatch(id, unit, reason) {
    return this.command(`/api/v1/occurrences/${encodeURIComponent(id)}/dispatch`, reason ? { unit, reason } : { unit });
  }

  step(id, unit, body) {
    return this.command(`/api/v1/occurrences/${encodeURIComponent(id)}/units/${encodeURIComponent(unit)}/steps`, body);
  }

  close(id, note) {
    return this.command(`/api/v1/occurrences/${encodeURIComponent(id)}/close`, note ? { note } : {});
  }
}
