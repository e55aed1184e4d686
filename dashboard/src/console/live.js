// The live queues: `GET /ws/console?central=…&token=…`, a snapshot then one
// `occurrence` frame per change. Reconnects with exponential backoff (1 s …
// 30 s, jittered); after a few failed tries in a row it asks the caller to
// check the session (a revoked or expired token is refused at the handshake,
// which the browser cannot tell from a network fault).

export class LiveQueues {
  /**
   * @param {{onSnapshot: Function, onOccurrence: Function, onState: Function, onRepeatedFailure: Function}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.attempt = 0;
    this.failures = 0;
    this.timer = null;
    this.phase = "idle"; // idle | connecting | open | down
    this.retryAt = 0;
    this.lastFrame = 0;
    this.target = null;
  }

  start(central, token) {
    this.stop();
    this.target = { central, token };
    this.attempt = 0;
    this.failures = 0;
    this.connect();
  }

  stop() {
    this.target = null;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.socket;
    this.socket = null;
    if (ws) ws.close(1000);
    this.setPhase("idle");
  }

  url() {
    const url = new URL("/ws/console", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.searchParams.set("central", this.target.central);
    url.searchParams.set("token", this.target.token);
    return url;
  }

  connect() {
    if (!this.target) return;
    this.setPhase("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.socket = ws;
    let gotFrame = false;
    ws.onmessage = (ev) => {
      if (this.socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.lastFrame = Date.now();
      if (frame.type === "snapshot") {
        gotFrame = true;
        this.attempt = 0;
        this.failures = 0;
        this.setPhase("open");
        this.handlers.onSnapshot(frame);
      } else if (frame.type === "occurrence" && frame.occurrence) {
        this.handlers.onOccurrence(frame.occurrence);
      }
    };
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (!gotFrame) this.failures += 1;
      this.retry();
    };
  }

  retry() {
    if (!this.target) return;
    const base = Math.min(30000, 1000 * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt = Math.min(this.attempt + 1, 10);
    this.retryAt = Date.now() + delay;
    this.setPhase("down");
    if (this.failures >= 3) {
      this.failures = 0;
      this.handlers.onRepeatedFailure();
    }
    this.timer = setTimeout(() => this.connect(), delay);
  }

  setPhase(phase) {
    this.phase = phase;
    this.handlers.onState(this);
  }
}
