// The room's event stream, read with fetch rather than EventSource or
// htmx's SSE extension: a hidden tab must keep it open, its events must be
// relayed to other tabs (tabs.js), and resuming must send Last-Event-ID on
// every reconnect.

// EventParser turns the text of a text/event-stream into events, following
// the WHATWG HTML parsing rules for server-sent events: lines end in CR, LF
// or CRLF (also when a CRLF is split between two chunks); a line starting
// with ":" is a comment; "data" lines are joined with "\n"; the last event id
// persists from one event to the next; a blank line dispatches; an event
// without data is not dispatched; an unfinished event at the end of the
// stream is dropped (the caller simply stops pushing).
export class EventParser {
  // onEvent receives {id, event, data}: id is the last event id seen so
  // far ('' if none), event is the event's name ('' for an unnamed one).
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.rest = '';     // an unfinished line
    this.skipLF = false; // the last chunk ended in CR: a leading LF is its CRLF
    this.lastId = '';
    this.name = '';
    this.data = [];
    this.retry = null;   // the server's "retry" advice, in ms
  }

  // push feeds the next chunk of decoded text.
  push(chunk) {
    let s = chunk;
    if (this.skipLF && s.startsWith('\n')) s = s.slice(1);
    this.skipLF = false;
    const ends = /[\r\n]/g;
    let start = 0;
    for (let m = ends.exec(s); m; m = ends.exec(s)) {
      const i = m.index;
      const line = this.rest + s.slice(start, i);
      this.rest = '';
      if (s[i] === '\r') {
        if (i + 1 === s.length) this.skipLF = true;
        else if (s[i + 1] === '\n') ends.lastIndex = i + 2;
      }
      start = ends.lastIndex;
      this.line(line);
    }
    this.rest += s.slice(start);
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return; // a comment: the keepalive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.name = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default: // unknown fields are ignored
    }
  }

  dispatch() {
    const data = this.data;
    const name = this.name;
    this.data = [];
    this.name = '';
    if (data.length === 0) return;
    this.onEvent({ id: this.lastId, event: name === 'message' ? '' : name, data: data.join('\n') });
  }
}

// Reconnect timing: exponential backoff with jitter, so that many tabs or
// browsers do not come back in step after a server restart.
const FIRST_DELAY = 500;
const MAX_DELAY = 30000;
const JITTER = 0.3;
// The server sends a keepalive comment after 20 s of silence; a stream
// silent for this long is dead (a lost network, a sleeping laptop).
const SILENCE = 45000;
// A connection that lasted this long counts as having worked: the next
// failure starts the backoff again from the beginning.
const STABLE = 5000;
// After this many failures in a row the page says Offline, not Reconnecting.
const OFFLINE_AFTER = 5;

// EventStream keeps one event stream open until stopped, reconnecting with
// backoff and resuming with Last-Event-ID.
//
// options:
//   url()        the URL to open (read again for every connection)
//   resumeFrom() the Last-Event-ID to send, or '' to send none
//   onEvent(ev)  each parsed event, as EventParser gives it
//   onState(s)   'connecting', 'live', 'reconnecting' or 'offline'
export class EventStream {
  constructor(options) {
    this.options = options;
    this.running = false;
    this.controller = null;
    this.failures = 0;
    this.restarting = false;
    this.wake = null; // ends the wait between attempts early
    this.generation = 0; // a stopped loop still awaiting must not go on after a new start
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop(++this.generation);
  }

  stop() {
    this.running = false;
    this.controller?.abort();
    this.wake?.();
  }

  // restart drops the connection, if any, and opens a new one at once: the
  // URL changed, or the page was frozen and may hold a dead connection.
  restart() {
    if (!this.running) return;
    this.restarting = true;
    this.controller?.abort();
    this.wake?.();
  }

  setState(state) {
    this.options.onState(state);
  }

  async loop(generation) {
    const current = () => this.running && this.generation === generation;
    let first = true;
    while (current()) {
      const opened = Date.now();
      this.restarting = false;
      const ok = await this.connect(first);
      first = false;
      if (!current()) return;
      if (this.restarting) {
        // Asked for: not a failure, and nothing to show for it.
        this.restarting = false;
        this.failures = 0;
        continue;
      }
      if (ok && Date.now() - opened >= STABLE) this.failures = 0;
      this.failures++;
      const offline = navigator.onLine === false || this.failures >= OFFLINE_AFTER;
      this.setState(offline ? 'offline' : 'reconnecting');
      if (this.failures > 1) await this.pause(backoff(this.failures - 1));
    }
  }

  // connect runs one connection until it ends. It reports whether the
  // server answered with a stream.
  async connect(first) {
    const controller = new AbortController();
    this.controller = controller;
    if (first) this.setState('connecting');
    const headers = { Accept: 'text/event-stream' };
    const resume = this.options.resumeFrom();
    if (resume) headers['Last-Event-ID'] = resume;
    let heard = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - heard > SILENCE) controller.abort();
    }, 5000);
    try {
      const res = await fetch(this.options.url(), {
        headers,
        signal: controller.signal,
        cache: 'no-store',
        credentials: 'same-origin',
      });
      const type = res.headers.get('Content-Type') || '';
      if (!res.ok || !res.body || !type.startsWith('text/event-stream')) {
        await res.body?.cancel();
        return false;
      }
      this.setState('live');
      const parser = new EventParser((ev) => this.options.onEvent(ev));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        heard = Date.now();
        parser.push(value);
        if (!this.running || controller.signal.aborted) break;
      }
      return true;
    } catch {
      // A network error, or our own abort: either way, connect again.
      return !controller.signal.aborted;
    } finally {
      clearInterval(watchdog);
      controller.abort(); // ends the fetch if the loop left it early
      if (this.controller === controller) this.controller = null;
    }
  }

  // pause waits ms, or less if restart, stop or the network coming back
  // ends the wait.
  pause(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        window.removeEventListener('online', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      window.addEventListener('online', done);
      this.wake = done;
    });
  }
}

// backoff is the wait before the nth retry (n >= 1), in ms.
export function backoff(n) {
  const base = Math.min(FIRST_DELAY * 2 ** (n - 1), MAX_DELAY);
  return Math.round(base * (1 - JITTER + Math.random() * 2 * JITTER));
}
