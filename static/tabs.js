// One event stream per room per browser. Tabs of one browser showing the
// same room share one stream: one tab (the holder) keeps it open for all of
// them and relays every event over a BroadcastChannel; the others (the
// followers) show what it relays. A browser opens at most six HTTP/1.1
// connections to a host, and a stream holds one for as long as it is open,
// so seven room tabs with a stream each would stall the browser.
//
// The holder is elected with the Web Locks API where the page is a secure
// context (HTTPS, localhost): the lock passes to a waiting tab the moment the
// holder's tab closes or crashes. On plain http:// (a LAN server before TLS)
// there are no Web Locks, and the tabs elect a holder among themselves with
// heartbeats over the channel. Without BroadcastChannel each tab keeps a
// stream of its own.
//
// History events carry ids that go up by exactly one; every tab shows each
// exactly once, in order. A follower that sees a gap (it opened after the
// holder had relayed what it needs, or a new holder is ahead of it) asks the
// holder, which keeps the latest events for that; when even the holder no
// longer has them, the follower reloads.

import { EventStream } from './stream.js';

// Timings, in ms.
const RECONNECT_DEBOUNCE = 400; // changes of the tabs' states, coalesced into one reconnect
const TAKEOVER_SETTLE = 200;   // a new holder waits this long for the other tabs' hellos
const BEAT = 1000;             // heartbeat election: how often each tab says it is there
const STALE = 2500;            // a tab not heard from this long is asked whether it is there
const PROBE_WAIT = 1500;       // ... and counted gone when it has not answered in this long
const HELLO_WAIT = 400;        // a new tab waits this long for a holder to answer before it claims
const CLAIM_WAIT = 300;        // a claim that no better one contests this long wins
const ASK_AGAIN = 2000;        // a follower waiting for missing events asks again after this long
const GIVE_UP = 15000;         // ... and reloads when they have not come after this long
// Hidden tabs' timers run at most once a second, and after five minutes
// hidden (Chrome's intensive throttling) about once a minute: so no timer
// above decides anything on its own. A tab that has not been heard from is
// probed, and a probe is answered from the message handler, which is not
// throttled; only a tab that stays silent after being asked is gone.

// What a tab keeps to serve followers that fall behind.
const REPLAY_EVENTS = 500;
const REPLAY_BYTES = 2 * 1024 * 1024;

const STREAM_LOCK = 'cloakroom:stream:';
const TAB_LOCK = 'cloakroom:tab:';
const CHANNEL = 'cloakroom:room:';

// randomTab names a tab. Names sort by when the tab opened, so that the
// oldest tab wins a heartbeat election; crypto.randomUUID needs a secure
// context, getRandomValues does not.
function randomTab() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  const tail = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return Date.now().toString(36).padStart(10, '0') + '-' + tail;
}

// seqOf reads a member list's data-seq; lists without one sort first.
function seqOf(html) {
  const m = /\bdata-seq="(\d+)"/.exec(html);
  return m ? Number(m[1]) : -1;
}

// RoomStream is this tab's share of the room's stream.
//
// options:
//   room, member   the room, and this tab's member id (a decimal string)
//   events         the stream's path, /rooms/{room}/events
//   since          the newest event id the page was rendered with
//   onEvent(ev)    every event, once, in order: history events ({id, event:
//                  '', data}) with ids after since, member lists ('members')
//                  and 'reset'
//   onState(s)     the stream's state, as EventStream reports it
//   onRole(r)      'holder', 'follower' or 'solo'
//   onLost()       events are missing that no tab can supply: reload
export class RoomStream {
  constructor(options) {
    this.options = options;
    this.lastId = options.since;
    this.stash = new Map(); // events after a gap, by id
    this.stashedAt = 0;     // when the gap was first seen
    this.replay = [];       // the latest history events, for followers
    this.replayBytes = 0;
    this.members = null;    // the newest member list event seen
    this.stopped = true;
    this.opened = 0;        // connections the stream opened
  }

  get hidden() {
    return document.visibilityState !== 'visible';
  }

  // start joins the other tabs of this room, or starts a stream of its own.
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.tab = randomTab();
    this.role = '';
    this.holderTab = null;
    this.claiming = false;
    this.peers = new Map([[this.tab, this.self()]]);
    this.watched = new Set();
    this.waitingForStream = false;
    this.releaseStreamLock = null;
    this.releaseTabLock = null;
    this.pendingReconnect = false;
    this.askTimer = 0;
    this.timers = new Set();
    this.stash.clear();
    this.conn = 'connecting';
    this.options.onState(this.conn);

    if (!('BroadcastChannel' in window)) {
      this.mode = 'solo';
      this.setRole('solo');
      this.startStream();
      return;
    }
    this.channel = new BroadcastChannel(CHANNEL + this.options.room);
    this.channel.onmessage = (e) => this.receive(e.data);
    if (window.isSecureContext && navigator.locks) {
      this.mode = 'locks';
      this.startLocks();
    } else {
      this.mode = 'beats';
      this.startBeats();
    }
  }

  // stop leaves: the page is going away (or into the back/forward cache).
  stop() {
    if (this.stopped) return;
    this.post({ t: 'bye' });
    this.stopped = true;
    this.stream?.stop();
    this.stream = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.beatTimer);
    this.releaseStreamLock?.();
    this.releaseTabLock?.();
    this.locks?.abort();
    this.channel?.close();
    this.channel = null;
  }

  // visibilityChanged tells the others (and the server, through the holder)
  // whether this tab is seen.
  visibilityChanged() {
    if (this.stopped) return;
    this.peers.set(this.tab, this.self());
    this.post({ t: 'state', member: this.options.member, hidden: this.hidden });
    this.streamParamsChanged();
  }

  // freeze steps aside before the browser freezes this page: a frozen tab
  // can neither read the stream nor relay it, so another tab takes it. This
  // tab stays one of the room's tabs (with Web Locks its own lock stays
  // held, so the new holder keeps its member present).
  freeze() {
    if (this.stopped) return;
    if (this.mode === 'solo') {
      this.stream?.stop();
      return;
    }
    if (this.role !== 'holder') return;
    this.stepDown();
    this.holderTab = null;
    if (this.mode === 'locks') {
      this.releaseStreamLock?.();
      this.releaseStreamLock = null;
    } else {
      this.post({ t: 'resign' });
    }
  }

  // thaw rejoins after freeze: the stream is opened afresh (it resumes with
  // Last-Event-ID), or the holder is asked for what was missed.
  thaw() {
    if (this.stopped) return;
    if (this.mode === 'solo') {
      this.stream?.start();
      return;
    }
    if (this.role === 'holder') {
      this.stream?.restart();
      return;
    }
    if (this.mode === 'locks') this.requestStream();
    this.hello();
  }

  self() {
    return { member: this.options.member, hidden: this.hidden, at: Date.now(), probed: 0 };
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  post(msg) {
    msg.tab = this.tab;
    this.channel?.postMessage(msg);
  }

  setRole(role) {
    if (this.role === role) return;
    this.role = role;
    this.options.onRole(role);
  }

  setConn(state) {
    this.conn = state;
    this.options.onState(state);
  }

  // ---------------------------------------------------------------------
  // Election with Web Locks.

  async startLocks() {
    this.locks = new AbortController();
    const { signal } = this.locks;
    // Our own lock, held for the tab's life: a holder waiting for it learns
    // that this tab closed or crashed.
    await new Promise((granted, failed) => {
      navigator.locks.request(TAB_LOCK + this.tab, { signal }, () => {
        granted();
        return new Promise((release) => { this.releaseTabLock = release; });
      }).catch(failed);
    }).catch(() => {});
    if (this.stopped) return;
    this.hello();
    this.requestStream();
  }

  // requestStream waits for the room's stream lock: it is granted at once
  // to the room's first tab, and to the next waiting tab when the holder
  // closes, crashes or steps aside.
  requestStream() {
    if (this.waitingForStream) return;
    this.waitingForStream = true;
    navigator.locks.request(STREAM_LOCK + this.options.room, { signal: this.locks.signal }, () => {
      this.waitingForStream = false;
      if (this.stopped) return undefined;
      return new Promise((release) => {
        this.releaseStreamLock = release;
        this.becomeHolder();
      });
    }).catch(() => { this.waitingForStream = false; }); // aborted: the page went away
  }

  // watch drops a tab from the stream once its lock is free: it closed or
  // crashed without saying goodbye.
  watch(tab) {
    if (this.mode !== 'locks' || tab === this.tab || this.watched.has(tab) || this.stopped) return;
    this.watched.add(tab);
    navigator.locks.request(TAB_LOCK + tab, { signal: this.locks.signal }, () => {
      this.watched.delete(tab);
      this.dropPeer(tab);
    }).catch(() => this.watched.delete(tab));
  }

  // ---------------------------------------------------------------------
  // Election with heartbeats, where there are no Web Locks.

  startBeats() {
    this.hello();
    this.beatTimer = setInterval(() => this.tick(), BEAT);
    this.later(HELLO_WAIT, () => {
      if (!this.holderTab) this.claim();
    });
  }

  beat() {
    this.post({ t: 'beat', member: this.options.member, hidden: this.hidden, holder: this.role === 'holder', conn: this.conn });
  }

  tick() {
    if (this.stopped) return;
    const now = Date.now();
    this.peers.get(this.tab).at = now;
    this.beat();
    if (this.role === 'holder') {
      for (const [tab, peer] of this.peers) {
        if (tab !== this.tab && this.silent(tab, peer, now)) this.dropPeer(tab);
      }
    } else if (this.holderTab) {
      const holder = this.peers.get(this.holderTab);
      if (!holder || this.silent(this.holderTab, holder, now)) {
        this.dropPeer(this.holderTab);
        this.claim();
      }
    } else {
      this.claim();
    }
    if (this.stash.size) this.askMissing();
  }

  // silent reports a tab that has not answered a probe: it is gone.
  silent(tab, peer, now) {
    if (now - peer.at < STALE) {
      peer.probed = 0;
      return false;
    }
    if (!peer.probed) {
      peer.probed = now;
      this.post({ t: 'probe', to: tab });
      return false;
    }
    return now - peer.probed >= PROBE_WAIT;
  }

  claim() {
    if (this.role === 'holder' || this.claiming || this.stopped) return;
    this.claiming = true;
    this.post({ t: 'claim' });
    this.later(CLAIM_WAIT, () => {
      const won = this.claiming && !this.holderTab;
      this.claiming = false;
      if (won) this.becomeHolder();
    });
  }

  // heardHolder handles a tab that says it holds the stream.
  heardHolder(tab, conn) {
    if (tab === this.tab) return;
    if (this.role === 'holder') {
      // Two holders (two claims that crossed): the older tab keeps it.
      if (tab < this.tab) {
        this.stepDown();
      } else {
        this.post({ t: 'holder', conn: this.conn });
        return;
      }
    }
    this.claiming = false;
    if (conn && this.conn !== conn) this.setConn(conn);
    if (this.holderTab === tab) return;
    this.holderTab = tab;
    this.setRole('follower');
    this.hello();
  }

  stepDown() {
    this.stream?.stop();
    this.stream = null;
    this.setRole('follower');
  }

  // ---------------------------------------------------------------------
  // Holding the stream.

  becomeHolder() {
    if (this.stopped) return;
    this.holderTab = this.tab;
    this.stash.clear(); // the stream resumes from lastId and brings what is missing
    this.setRole('holder');
    this.post({ t: 'holder', conn: this.conn });
    for (const tab of this.peers.keys()) this.watch(tab);
    if (this.peers.size > 1) {
      this.later(TAKEOVER_SETTLE, () => this.startStream());
    } else {
      this.startStream();
    }
  }

  startStream() {
    // A holder that stepped down while it waited for the others' hellos
    // must not open a stream after all.
    if (this.stream || this.stopped || (this.role !== 'holder' && this.role !== 'solo')) return;
    this.streamKey = this.streamParams().toString();
    this.stream = new EventStream({
      url: () => {
        const params = this.streamParams();
        this.streamKey = params.toString();
        return this.options.events + '?' + params;
      },
      // The page's first connection resumes with ?since=; every later one,
      // and one that takes over from another tab, with Last-Event-ID.
      resumeFrom: () => (this.opened++ > 0 || this.lastId !== this.options.since ? String(this.lastId) : ''),
      onEvent: (ev) => this.fromStream(ev),
      onState: (state) => {
        this.setConn(state);
        if (this.role === 'holder') this.post({ t: 'conn', state });
      },
    });
    this.stream.start();
  }

  // streamParams binds every tab's member to the stream, and marks idle
  // the members none of whose tabs is seen.
  streamParams() {
    const seen = new Map();
    for (const peer of this.peers.values()) {
      seen.set(peer.member, (seen.get(peer.member) || false) || !peer.hidden);
    }
    const ids = [...seen.keys()].sort();
    const params = new URLSearchParams({ since: String(this.options.since) });
    for (const id of ids) params.append('m', id);
    for (const id of ids) if (!seen.get(id)) params.append('idle', id);
    return params;
  }

  streamParamsChanged() {
    if (!this.stream || this.pendingReconnect) return;
    this.pendingReconnect = true;
    this.later(RECONNECT_DEBOUNCE, () => {
      this.pendingReconnect = false;
      if (this.stream && this.streamParams().toString() !== this.streamKey) this.stream.restart();
    });
  }

  fromStream(ev) {
    if (this.role !== 'holder' && this.role !== 'solo') return;
    if (ev.event === '') {
      const id = Number(ev.id);
      if (!Number.isSafeInteger(id) || id <= this.lastId) return;
      this.deliver(ev, id);
      return;
    }
    if (ev.event === 'members') this.keepMembers(ev);
    this.post({ t: 'ev', ev });
    this.options.onEvent(ev);
  }

  // serve sends a follower the events after its last one.
  serve(to, after) {
    let events = [];
    let gone = false;
    if (after < this.lastId) {
      events = this.replay.filter((ev) => Number(ev.id) > after);
      gone = events.length === 0 || Number(events[0].id) !== after + 1;
      if (gone) events = [];
    }
    this.post({ t: 'replay', to, events, gone, members: this.members, conn: this.conn });
  }

  // ---------------------------------------------------------------------
  // Following.

  hello() {
    this.post({ t: 'hello', member: this.options.member, hidden: this.hidden, after: this.lastId });
  }

  // fromHolder takes a history event relayed or replayed by the holder.
  fromHolder(ev) {
    const id = Number(ev.id);
    if (!Number.isSafeInteger(id) || id <= this.lastId) return;
    if (id > this.lastId + 1) {
      if (this.stash.size === 0) this.stashedAt = Date.now();
      this.stash.set(id, ev);
      this.askMissing();
      return;
    }
    this.deliver(ev, id);
    while (this.stash.size) {
      for (const k of this.stash.keys()) if (k <= this.lastId) this.stash.delete(k);
      const next = this.stash.get(this.lastId + 1);
      if (!next) break;
      this.stash.delete(this.lastId + 1);
      this.deliver(next, this.lastId + 1);
    }
  }

  askMissing() {
    const now = Date.now();
    if (now - this.stashedAt > GIVE_UP) {
      // Asked and asked, and nobody had them: the page starts afresh.
      this.options.onLost();
      return;
    }
    if (now - (this.askedAt || 0) >= ASK_AGAIN) {
      this.askedAt = now;
      this.post({ t: 'want', after: this.lastId });
    }
    // No timer ticks in the Web Locks election: look again until served.
    if (this.mode === 'locks' && !this.askTimer) {
      this.askTimer = this.later(ASK_AGAIN, () => {
        this.askTimer = 0;
        if (this.stash.size) this.askMissing();
      });
    }
  }

  replayed(msg) {
    if (msg.conn) this.setConn(msg.conn);
    if (msg.members) this.fromMembers(msg.members);
    if (msg.gone) {
      this.options.onLost();
      return;
    }
    for (const ev of msg.events) this.fromHolder(ev);
    this.askedAt = 0;
    if (this.stash.size && Math.min(...this.stash.keys()) > this.lastId + 1 && msg.events.length) {
      // The holder sent what it has and the gap is still there.
      this.options.onLost();
    }
  }

  fromMembers(ev) {
    if (this.members && seqOf(ev.data) < seqOf(this.members.data)) return;
    this.keepMembers(ev);
    this.options.onEvent(ev);
  }

  // ---------------------------------------------------------------------
  // Every tab.

  deliver(ev, id) {
    this.lastId = id;
    this.replay.push(ev);
    this.replayBytes += ev.data.length;
    while (this.replay.length > REPLAY_EVENTS || this.replayBytes > REPLAY_BYTES) {
      this.replayBytes -= this.replay.shift().data.length;
    }
    if (this.role === 'holder') this.post({ t: 'ev', ev });
    this.options.onEvent(ev);
  }

  keepMembers(ev) {
    if (!this.members || seqOf(ev.data) >= seqOf(this.members.data)) this.members = ev;
  }

  upsertPeer(tab, member, hidden) {
    const old = this.peers.get(tab);
    this.peers.set(tab, { member, hidden, at: Date.now(), probed: 0 });
    if (this.role === 'holder') {
      this.watch(tab);
      if (!old || old.member !== member || old.hidden !== hidden) this.streamParamsChanged();
    }
  }

  dropPeer(tab) {
    if (!this.peers.delete(tab)) return;
    if (tab === this.holderTab) this.holderTab = null;
    if (this.role === 'holder') this.streamParamsChanged();
  }

  receive(msg) {
    if (this.stopped || !msg || typeof msg !== 'object' || msg.tab === this.tab) return;
    const peer = this.peers.get(msg.tab);
    if (peer) peer.at = Date.now();
    const holding = this.role === 'holder';
    switch (msg.t) {
      case 'hello':
        this.upsertPeer(msg.tab, msg.member, msg.hidden);
        if (holding) this.serve(msg.tab, msg.after);
        break;
      case 'want':
        if (holding) this.serve(msg.tab, msg.after);
        break;
      case 'state':
        this.upsertPeer(msg.tab, msg.member, msg.hidden);
        break;
      case 'beat':
        this.upsertPeer(msg.tab, msg.member, msg.hidden);
        if (msg.holder) this.heardHolder(msg.tab, msg.conn);
        break;
      case 'bye':
        this.dropPeer(msg.tab);
        if (this.mode === 'beats' && !this.holderTab && !holding) this.claim();
        break;
      case 'resign':
        if (msg.tab === this.holderTab) {
          this.holderTab = null;
          this.claim();
        }
        break;
      case 'holder':
        if (this.mode === 'locks') {
          if (holding) break; // the lock makes one holder; this is stale
          this.holderTab = msg.tab;
          this.setRole('follower');
          if (msg.conn) this.setConn(msg.conn);
          this.hello();
        } else {
          this.heardHolder(msg.tab, msg.conn);
        }
        break;
      case 'probe':
        if (msg.to === this.tab) this.beat();
        break;
      case 'claim':
        if (holding) {
          this.post({ t: 'holder', conn: this.conn });
        } else if (this.claiming && msg.tab < this.tab) {
          this.claiming = false;
        } else if (!this.holderTab && msg.tab > this.tab) {
          this.claim(); // an older tab than the claimant: claim too, and win
        }
        break;
      case 'conn':
        if (!holding && msg.tab === this.holderTab) this.setConn(msg.state);
        break;
      case 'ev':
        if (holding) break; // another holder's, for a moment: ours brings the same
        if (msg.ev.event === '') {
          this.fromHolder(msg.ev);
        } else if (msg.ev.event === 'members') {
          this.fromMembers(msg.ev);
        } else {
          this.options.onEvent(msg.ev);
        }
        break;
      case 'replay':
        if (msg.to !== this.tab || holding) break;
        this.holderTab = msg.tab;
        this.setRole('follower');
        this.replayed(msg);
        break;
      default:
    }
  }
}
