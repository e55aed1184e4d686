// Pure formatting helpers (Portuguese conventions: dd/mm/aaaa, decimal comma).

const clockFormats = new Map();

function formatter(timeZone) {
  let f = clockFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("pt-BR", {
      timeZone,
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
      hourCycle: "h23",
    });
    clockFormats.set(timeZone, f);
  }
  return f;
}

function parts(date, timeZone) {
  const out = {};
  for (const p of formatter(timeZone).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** "dd/mm/aaaa HH:MM:SS" in `timeZone`. */
export function formatClock(date, timeZone = "America/Sao_Paulo") {
  const p = parts(date, timeZone);
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}`;
}

/** "HH:MM:SS" in `timeZone`. */
export function formatTime(date, timeZone = "America/Sao_Paulo") {
  const p = parts(date, timeZone);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** Elapsed time: "m:ss" under an hour, else "h:mm:ss". Negative counts as 0. */
export function formatElapsed(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A number with a decimal comma (at most `digits` decimals). */
export function formatNumber(value, digits = 1) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  return value.toLocaleString("pt-BR", { maximumFractionDigits: digits });
}

/** Escapes text for innerHTML. */
export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}
