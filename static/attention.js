// What draws a reader back to a room: while the tab is hidden, the number
// of new messages in its title and a dot on its icon; coming back, a "New"
// divider above the first message not yet seen; mentions of the reader's
// name highlighted; and, if the reader asks for them, a desktop
// notification and a sound for a mention.
//
// Each tab looks after its own member: with eight tabs open, a mention of
// one of them notifies from that member's tab only.

const NOTIFY_KEY = 'cloakroom:notify';
const SOUND_KEY = 'cloakroom:sound';
const ALERT_LOCK = 'cloakroom:alert:';
const ALERT_HOLD = 60000; // ms a tab keeps a message's alert to itself

// Letters, digits, marks and connectors continue a name: "@alicea" does not
// mention alice, "@alice," does.
const WORD = /[\p{L}\p{N}\p{M}\p{Pc}]/u;

// nicknameKey approximates how the server compares names (RFC 8266,
// PRECIS Nickname): spaces mapped to one ASCII space, width-folded and
// compatibility-normalised (NFKC), lower-cased, NFKC again. The server
// lowers letter by letter, without context: so does this, since a whole
// string's toLowerCase turns a word-final capital sigma into final sigma
// (ΣΑΣ → σας) where the server gives σασ.
export function nicknameKey(s) {
  const lower = Array.from(s.normalize('NFKC').replace(/\s+/gu, ' '), (c) => c.toLowerCase()).join('');
  return lower.normalize('NFKC');
}

// findMention returns where "@name" first stands in text as a mention of
// the name whose key is given ([start, end) in UTF-16 units, start at the
// "@"), or null. The "@" must not follow a word character (an e-mail
// address is not a mention) and the name must not run on into a longer
// word.
export function findMention(text, key) {
  if (!key) return null;
  // Normalising can shrink a name (full-width forms, ligatures) but not
  // by more than this.
  const longest = key.length * 4 + 8;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    if (at > 0 && WORD.test(charBefore(text, at))) continue;
    const from = at + 1;
    for (let end = from + 1; end <= text.length && end - from <= longest; end++) {
      if (isLowSurrogate(text.charCodeAt(end))) continue; // do not split a pair
      const got = nicknameKey(text.slice(from, end));
      if (got === key && !WORD.test(charAt(text, end))) return [at, end];
      if (got.length > key.length + 4) break;
    }
  }
  return null;
}

function isLowSurrogate(c) {
  return c >= 0xdc00 && c <= 0xdfff;
}

function charAt(s, i) {
  return i < s.length ? String.fromCodePoint(s.codePointAt(i)) : '';
}

function charBefore(s, i) {
  const c = s.charCodeAt(i - 1);
  return isLowSurrogate(c) && i >= 2 ? s.slice(i - 2, i) : s[i - 1];
}

function readSetting(key) {
  try { return localStorage.getItem(key) === 'on'; } catch { return false; }
}

function writeSetting(key, on) {
  try { localStorage.setItem(key, on ? 'on' : 'off'); } catch { /* private mode: not remembered */ }
}

// notificationsUnavailable says why this page cannot show notifications,
// or '' when it can.
export function notificationsUnavailable() {
  if (!window.isSecureContext) return 'Needs HTTPS: browsers show notifications only for secure pages.';
  if (!('Notification' in window)) return 'This browser cannot show notifications.';
  if (Notification.permission === 'denied') return 'Notifications are blocked for this site in the browser’s settings.';
  return '';
}

// Attention is one tab's unread count, divider, mentions and alerts.
//
// options:
//   log        the #log element
//   room       the room's name
//   me         this tab's member id
//   name       this tab's member name
//   reveal(el) scroll the log so that el shows at its top, if the reader
//              is not already reading above it; returns whether it scrolled
export class Attention {
  constructor(options) {
    this.options = options;
    this.key = nicknameKey(options.name || '');
    this.unread = 0;
    this.divider = null;
    this.title = document.title;
    this.icon = document.querySelector('link[rel~="icon"]');
    this.iconHref = this.icon?.getAttribute('href') || '';
    this.dotHref = this.icon?.dataset.unread || '';
    this.audio = null;
    this.notify = false;
    this.sound = false;
  }

  start() {
    for (const li of this.options.log.querySelectorAll('li.msg')) this.highlight(li);
    // Entries can also arrive from elsewhere (older pages loaded on
    // scrolling back): their mentions are highlighted too, without alerts.
    new MutationObserver((records) => {
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (n.nodeType === Node.ELEMENT_NODE && n.matches('li.msg')) this.highlight(n);
        }
      }
    }).observe(this.options.log, { childList: true });
    this.buildControls();
    document.addEventListener('visibilitychange', () => this.visibilityChanged());
  }

  isMine(li) {
    return li.dataset.member === this.options.me;
  }

  // arrived takes log entries that just came in live, in order.
  arrived(items) {
    const hidden = document.visibilityState !== 'visible';
    for (const li of items) {
      if (!li.matches('li.msg') || this.isMine(li)) continue;
      if (hidden) {
        this.unread++;
        if (!this.divider) this.placeDivider(li);
      }
      if (this.highlight(li) && (hidden || !document.hasFocus())) this.alert(li);
    }
    this.showUnread();
  }

  visibilityChanged() {
    if (document.visibilityState === 'visible') {
      this.unread = 0;
      this.showUnread();
      if (this.divider) this.options.reveal(this.divider);
    } else {
      // The divider marks what arrived during the last absence only.
      this.divider?.remove();
      this.divider = null;
    }
  }

  placeDivider(li) {
    const d = document.createElement('li');
    d.className = 'new-divider';
    d.dataset.ui = 'new';
    d.textContent = 'New';
    const more = document.createElement('span');
    more.className = 'visually-hidden';
    more.textContent = ' since you were away';
    d.append(more);
    li.before(d);
    this.divider = d;
  }

  showUnread() {
    document.title = this.unread > 0 ? '(' + this.unread + ') ' + this.title : this.title;
    if (this.icon && this.dotHref) {
      const href = this.unread > 0 ? this.dotHref : this.iconHref;
      if (this.icon.getAttribute('href') !== href) this.icon.setAttribute('href', href);
    }
  }

  // highlight marks a message from someone else that mentions this tab's
  // member, and reports whether it does.
  highlight(li) {
    if (li.dataset.mention) return li.dataset.mention === 'yes';
    const text = li.querySelector('.text');
    const found = !this.isMine(li) && text ? findMention(text.textContent, this.key) : null;
    li.dataset.mention = found ? 'yes' : 'no';
    if (!found) return false;
    li.classList.add('mention');
    markRange(text, found[0], found[1]);
    const meta = li.querySelector('.meta');
    if (meta && !meta.querySelector('.mention-tag')) {
      const tag = document.createElement('span');
      tag.className = 'mention-tag';
      tag.textContent = 'mentions you';
      meta.append(tag);
    }
    return true;
  }

  // alert notifies and chimes, once per message even when several tabs show
  // the mentioned member (a duplicated tab): with Web Locks the first tab to
  // ask takes the message's lock and keeps it a while; the others, asking at
  // nearly the same moment, are told it is taken. Without them each alerts.
  alert(li) {
    if (!this.notify && !this.sound) return;
    const ring = () => {
      if (this.notify) this.showNotification(li);
      if (this.sound) this.chime();
    };
    if (!(window.isSecureContext && navigator.locks) || !li.id) {
      ring();
      return;
    }
    navigator.locks.request(ALERT_LOCK + this.options.room + ':' + li.id, { ifAvailable: true }, (lock) => {
      if (!lock) return undefined;
      ring();
      return new Promise((done) => setTimeout(done, ALERT_HOLD));
    }).catch(() => {});
  }

  showNotification(li) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    const author = li.querySelector('.author')?.textContent || 'Someone';
    let body = li.querySelector('.text')?.textContent || '';
    if (body.length > 200) body = body.slice(0, 200) + '…';
    try {
      // The tag folds the notifications of two tabs of one member into one.
      const n = new Notification(author + ' mentioned you in #' + this.options.room, {
        body,
        tag: 'cloakroom:' + this.options.room + ':' + li.id,
        icon: this.iconHref,
      });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch {
      // Some browsers (Chrome on Android) allow notifications only from a
      // service worker; there is none here.
    }
  }

  // chime plays two short notes. WebAudio needs no sound file (the page's
  // policy allows no data: URLs), but an AudioContext only starts from a
  // click or key press: the switch itself, or the first one after a reload.
  chime() {
    const ctx = this.audio;
    if (!ctx || ctx.state !== 'running') return;
    const now = ctx.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const t = now + i * 0.14;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.13);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.14);
    }
  }

  unlockAudio() {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    this.audio ??= new AC();
    if (this.audio.state === 'suspended') this.audio.resume().catch(() => {});
  }

  // ---------------------------------------------------------------------
  // The two switches, in the room's header.

  buildControls() {
    const header = document.querySelector('.room-header');
    if (!header) return;
    const box = document.createElement('details');
    box.className = 'alerts';
    box.innerHTML = `<summary>Alerts</summary>
      <div class="alerts-panel">
        <p class="alerts-title">When someone mentions you</p>
        <label class="switch"><input type="checkbox" id="alert-notify" aria-describedby="alert-notify-why"> Desktop notification</label>
        <p id="alert-notify-why" class="hint"></p>
        <label class="switch"><input type="checkbox" id="alert-sound"> Sound</label>
      </div>`;
    const leave = header.querySelector('.leave');
    if (leave) leave.before(box);
    else header.append(box);
    this.notifyBox = box.querySelector('#alert-notify');
    this.soundBox = box.querySelector('#alert-sound');
    this.notifyWhy = box.querySelector('#alert-notify-why');

    this.notifyBox.addEventListener('change', () => this.notifyChanged());
    this.soundBox.addEventListener('change', () => this.soundChanged());
    // A choice made in another tab applies here too.
    window.addEventListener('storage', (e) => {
      if (e.key === NOTIFY_KEY || e.key === SOUND_KEY) this.loadSettings();
    });
    // An AudioContext made before any click stays silent: start it on the
    // first one.
    const unlock = () => {
      if (this.sound) this.unlockAudio();
    };
    document.addEventListener('pointerdown', unlock, { capture: true });
    document.addEventListener('keydown', unlock, { capture: true });
    this.loadSettings();
  }

  loadSettings() {
    const why = notificationsUnavailable();
    this.notify = !why && readSetting(NOTIFY_KEY) && Notification.permission === 'granted';
    this.notifyBox.checked = this.notify;
    this.notifyBox.disabled = why !== '';
    this.notifyWhy.textContent = why;
    this.notifyWhy.hidden = why === '';
    this.sound = readSetting(SOUND_KEY);
    this.soundBox.checked = this.sound;
  }

  // notifyChanged asks for permission here, on the reader's click, and
  // never on load.
  async notifyChanged() {
    const on = this.notifyBox.checked;
    if (!on) {
      writeSetting(NOTIFY_KEY, false);
      this.notify = false;
      return;
    }
    let permission = Notification.permission;
    if (permission === 'default') {
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = 'denied';
      }
    }
    writeSetting(NOTIFY_KEY, permission === 'granted');
    this.loadSettings();
  }

  soundChanged() {
    this.sound = this.soundBox.checked;
    writeSetting(SOUND_KEY, this.sound);
    if (!this.sound) return;
    this.unlockAudio();
    // Let the reader hear what it will sound like.
    this.audio?.resume().then(() => this.chime()).catch(() => {});
  }
}

// markRange wraps the characters [start, end) of el's text in a <mark>, when
// they lie in one text node (a mention split by a link stays unmarked; the
// entry is highlighted all the same).
function markRange(el, start, end) {
  const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let offset = 0;
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    const len = node.data.length;
    if (start >= offset && end <= offset + len) {
      if (node.parentElement?.closest('a')) return;
      const range = document.createRange();
      range.setStart(node, start - offset);
      range.setEnd(node, end - offset);
      const mark = document.createElement('mark');
      mark.className = 'mention-name';
      range.surroundContents(mark);
      return;
    }
    offset += len;
  }
}
