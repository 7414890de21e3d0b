// Cloakroom's page script: the room's log, member list, connection state
// and composer.
//
// The room's events come from tabs.js (one stream per room per browser,
// shared by its tabs) and are put into the page here; attention.js adds the
// unread count, the "New" divider and mentions. htmx sends the composer's
// messages. This file adds what markup cannot say: Enter to send, marking
// the reader's own messages, local times, keeping the log scrolled, and
// showing whether the stream is live. It must work under `default-src
// 'self'`: no inline code, no eval, no hx-on. On pages without a room log it
// does nothing.

import { RoomStream } from './tabs.js';
import { Attention } from './attention.js';

const log = document.getElementById('log');
if (log) room(log);

function on(el, type, fn, options) {
  el?.addEventListener(type, fn, options);
}

function room(log) {
  const me = log.dataset.me || '';
  const roomName = log.dataset.room || '';
  const jump = document.getElementById('jump');
  const conn = document.getElementById('conn');
  const form = document.getElementById('composer');
  const text = document.getElementById('text');
  const composerError = document.getElementById('composer-error');
  const sendButton = form?.querySelector('button[type="submit"], button:not([type])');

  const NEAR_BOTTOM = 80; // px from the bottom that still counts as "at the bottom"
  const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

  // ---------------------------------------------------------------------
  // Reloading. The server decides what a reload shows (the room again, or
  // the join page once the member is gone), so a reload is the answer to
  // "reset", to events no tab can supply any more, and to "you left".
  // None may loop: "you left" reloads at most once per member, the others
  // at most once in ten seconds.

  let reloading = false;
  let unloading = false;

  function storageKey(reason) {
    return 'cloakroom:' + reason + ':' + roomName + ':' + me;
  }

  function readStore(key) {
    try { return sessionStorage.getItem(key); } catch { return null; }
  }

  function writeStore(key, value) {
    try { sessionStorage.setItem(key, value); } catch { /* private mode: no guard, still fine */ }
  }

  function reload() {
    if (reloading) return;
    reloading = true;
    location.reload();
  }

  // Should the server say "reset" again right after a reload, wait a
  // little before obeying, rather than reload in a loop.
  function reloadSoon() {
    const key = storageKey('reset');
    const last = Number(readStore(key)) || 0;
    const now = Date.now();
    writeStore(key, String(now));
    if (now - last < 10000) {
      setConn('reconnecting');
      setTimeout(reload, 10000);
    } else {
      reload();
    }
  }

  // Leaving makes our own member vanish from the list, which would otherwise
  // read as "you left" and reload the room over the navigation to the front
  // page, aborting it.
  on(document.querySelector('form.leave'), 'submit', () => { reloading = true; });

  // ---------------------------------------------------------------------
  // Connection state, shown in #conn.

  const LABELS = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
  };

  function setConn(state) {
    if (!conn || reloading || !LABELS[state]) return;
    if (conn.dataset.state === state && conn.textContent === LABELS[state]) return;
    conn.dataset.state = state;
    conn.textContent = LABELS[state]; // also drops the <noscript> fallback
  }

  // ---------------------------------------------------------------------
  // Scrolling. `stuck` says whether the reader is following the bottom of
  // the log; it changes only when the reader scrolls, so content arriving
  // (which grows scrollHeight without a scroll event) is judged against
  // where the reader was before it came.

  let stuck = true;
  let smoothUntil = 0; // while our own smooth scroll runs, its scroll events are not the reader's
  let unseen = 0;      // messages that arrived below while the reader was scrolled up

  function distanceFromBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight;
  }

  function scrollToBottom(smooth) {
    stuck = true;
    const behavior = smooth && !reducedMotion.matches ? 'smooth' : 'auto';
    if (behavior === 'smooth') smoothUntil = Date.now() + 1000;
    log.scrollTo({ top: log.scrollHeight, behavior });
    hideJump();
  }

  function showJump(count) {
    unseen = count;
    if (!jump || unseen <= 0) return;
    jump.textContent = unseen === 1 ? '1 new message ↓' : unseen + ' new messages ↓';
    jump.hidden = false;
  }

  function hideJump() {
    unseen = 0;
    if (jump) jump.hidden = true;
  }

  on(log, 'scroll', () => {
    const atBottom = distanceFromBottom() <= NEAR_BOTTOM;
    if (Date.now() < smoothUntil && !atBottom) return;
    smoothUntil = 0;
    stuck = atBottom;
    if (atBottom) hideJump();
  }, { passive: true });

  on(log, 'scrollend', () => { smoothUntil = 0; });

  on(jump, 'click', () => {
    scrollToBottom(true);
    // The button hides under the pointer: keep focus on the log rather
    // than losing it to <body>.
    log.focus({ preventScroll: true });
  });

  // The composer growing, the window resizing or a phone keyboard opening
  // shrink the log; a reader at the bottom should stay there.
  if ('ResizeObserver' in window) {
    new ResizeObserver(() => {
      if (stuck) log.scrollTop = log.scrollHeight;
    }).observe(log);
  }

  // reveal shows the "New" divider at the top of the log when the reader
  // comes back to a tab that was following the bottom and more arrived
  // than fits; the cue then counts the messages below.
  function reveal(divider) {
    if (!stuck || !divider.isConnected) return;
    const top = divider.getBoundingClientRect().top - log.getBoundingClientRect().top;
    if (top >= 0) return; // already in view
    log.scrollTop += top - 8;
    stuck = distanceFromBottom() <= NEAR_BOTTOM;
    if (stuck) return;
    let below = 0;
    for (let li = divider.nextElementSibling; li; li = li.nextElementSibling) {
      if (li.matches('li.msg') && li.getBoundingClientRect().top >= log.getBoundingClientRect().bottom) below++;
    }
    showJump(below);
  }

  // ---------------------------------------------------------------------
  // Local times.

  let today = new Date().toDateString();

  function formatTime(t) {
    const iso = t.getAttribute('datetime');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return;
    const clock = d.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
    let label = clock;
    if (d.toDateString() !== today) {
      const opts = { month: 'short', day: 'numeric' };
      if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
      label = d.toLocaleDateString([], opts) + ' ' + clock;
    }
    t.textContent = label;
    t.title = d.toLocaleString([], { dateStyle: 'full', timeStyle: 'short' });
    t.dataset.local = iso;
  }

  function formatTimes(root, all) {
    for (const t of root.querySelectorAll('time[datetime]')) {
      if (all || t.dataset.local !== t.getAttribute('datetime')) formatTime(t);
    }
  }

  // Past midnight, "today's" times need their date.
  function refreshDay() {
    const now = new Date().toDateString();
    if (now !== today) {
      today = now;
      formatTimes(log, true);
    }
  }

  // ---------------------------------------------------------------------
  // Own messages and the member list.

  function isMine(el) {
    return me !== '' && el.getAttribute('data-member') === me;
  }

  function markOwn(li) {
    if (li.classList.contains('msg') && isMine(li)) li.classList.add('own');
  }

  let leftHandled = false;

  // The stream's member list is rendered for everyone: mark the reader in
  // it, and notice when the reader is no longer in it.
  function refreshMembers(initial) {
    const members = document.getElementById('members');
    if (!members || me === '') return;
    let found = false;
    for (const li of members.querySelectorAll('li[data-member]')) {
      const mine = isMine(li);
      li.classList.toggle('me', mine);
      found ||= mine;
    }
    // The page as served always lists the reader; only a list from the
    // stream can tell that the reader has left.
    if (!found && initial !== true) memberGone();
  }

  // applyMembers puts a member list from the stream in place of the page's,
  // unless it is older than the one shown: lists can arrive out of order
  // around a reconnect, and each carries a sequence number.
  function applyMembers(list) {
    const current = document.getElementById('members');
    if (!current) return;
    const have = seqAttr(current);
    const got = seqAttr(list);
    if (got >= 0 && have >= 0 && got < have) return;
    list.removeAttribute('hx-swap-oob');
    current.replaceWith(list);
    refreshMembers(false);
  }

  // seqAttr reads a list's data-seq; -1 for a list without one.
  function seqAttr(list) {
    const v = list.getAttribute('data-seq');
    return v ? Number(v) : -1;
  }

  function memberGone() {
    if (leftHandled) return;
    leftHandled = true;
    const key = storageKey('left');
    if (readStore(key)) {
      // We reloaded for this once already and the server still showed the
      // room: say so rather than reload again.
      setConn('offline');
      showComposerError('You are no longer in this room. Reload the page to join again.');
      return;
    }
    writeStore(key, String(Date.now()));
    reload();
  }

  // ---------------------------------------------------------------------
  // The room's events, from this tab's stream or another tab's.

  const attention = new Attention({ log, room: roomName, me, name: log.dataset.name || '', reveal });

  let pending = []; // entries parsed from one chunk of the stream, put in together

  function onEvent(ev) {
    if (ev.event === 'reset') {
      reloadSoon();
      return;
    }
    const t = document.createElement('template');
    t.innerHTML = ev.data;
    for (const el of [...t.content.children]) {
      if (el.id === 'members') {
        applyMembers(el);
      } else if (ev.event === '' && el.localName === 'li') {
        if (el.id && document.getElementById(el.id)) continue; // shown already
        if (pending.length === 0) queueMicrotask(flush);
        pending.push(el);
      }
    }
  }

  function flush() {
    const items = pending;
    pending = [];
    if (!items.length) return;
    refreshDay();
    // The reader may have scrolled away since the last scroll event (it
    // comes a frame late): judge by where the log is now, before it grows,
    // unless our own smooth scroll is still on its way down.
    if (stuck && Date.now() >= smoothUntil) stuck = distanceFromBottom() <= NEAR_BOTTOM;
    log.append(...items);
    let own = false;
    let messages = 0;
    for (const li of items) {
      markOwn(li);
      formatTimes(li, true);
      if (!li.classList.contains('msg')) continue;
      messages++;
      own ||= isMine(li);
    }
    attention.arrived(items);
    if (stuck || own) {
      scrollToBottom(false);
    } else if (messages > 0) {
      showJump(unseen + messages);
    }
  }

  // Entries that come in some other way (older pages loaded on scrolling
  // back) are marked and given local times too.
  new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType !== Node.ELEMENT_NODE || n.parentNode !== log) continue;
        markOwn(n);
        formatTimes(n, false);
      }
    }
  }).observe(log, { childList: true });

  const stream = new RoomStream({
    room: roomName,
    member: me,
    events: log.dataset.events || '/rooms/' + roomName + '/events',
    since: Number(log.dataset.last) || 0,
    onEvent,
    onState: setConn,
    onRole: (role) => {
      if (!conn) return;
      conn.dataset.role = role;
      conn.title = role === 'follower' ? 'Shared: another tab of this room holds the connection' : '';
    },
    onLost: reloadSoon,
  });

  on(document, 'visibilitychange', () => {
    stream.visibilityChanged();
    if (!document.hidden) refreshDay();
  });
  on(window, 'pagehide', () => {
    unloading = true;
    stream.stop();
  });
  on(window, 'pageshow', (e) => {
    unloading = false;
    if (e.persisted) stream.start();
  });
  // A browser may freeze a background tab: let another tab take the
  // stream meanwhile, and catch up when it thaws.
  on(document, 'freeze', () => stream.freeze());
  on(document, 'resume', () => {
    if (!unloading) stream.thaw();
  });

  // ---------------------------------------------------------------------
  // The composer.

  let sending = false;
  let sentText = ''; // what the request in flight carries

  // Each composed message carries an id of its own (Idempotency-Key), so
  // that sending it again cannot make it appear twice: the server answers a
  // repeat as it answered the first time. A send that fails on the way (no
  // answer, or a server error: the message may have been posted all the
  // same) is retried once, with the same id and text. The id lasts until
  // the message is sent, or its text is changed.
  const RETRY_DELAY = 1000; // ms: a moment for a server that is restarting or overloaded
  let outgoing = null;      // {cid, text}: the message not yet known to be posted
  let retryNext = false;    // the next request is the retry
  let retried = false;      // the message has had its retry
  let mendable = false;     // the request in flight failed in a way a retry may mend
  let retryTimer = 0;

  function newMessageID() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // messageFor says what a request sends: the retry sends exactly what the
  // first attempt did, even if more was typed meanwhile; a send by hand
  // keeps the id while the text is the same.
  function messageFor(ctx) {
    clearTimeout(retryTimer);
    if (retryNext) {
      retryNext = false;
      ctx.request.body.set('text', outgoing.text);
    } else {
      retried = false;
      if (outgoing?.text !== text.value) outgoing = { cid: newMessageID(), text: text.value };
    }
    ctx.request.headers['Idempotency-Key'] = outgoing.cid;
    return outgoing.text;
  }

  function retrySoon() {
    retried = true;
    showComposerError('Could not send — trying again…');
    retryTimer = setTimeout(() => {
      // A box emptied meanwhile means the writer gave the message up.
      if (sending || isBlank()) return;
      retryNext = true;
      form.requestSubmit();
    }, RETRY_DELAY);
  }

  function showComposerError(message) {
    if (composerError) composerError.textContent = message;
  }

  function setSending(sendingNow) {
    sending = sendingNow;
    if (sendButton) sendButton.disabled = sendingNow;
    form?.setAttribute('aria-busy', sendingNow ? 'true' : 'false');
  }

  // Browsers without field-sizing: content grow the box here instead.
  const growByScript = !(window.CSS?.supports?.('field-sizing', 'content'));

  function autoGrow() {
    if (!growByScript || !text) return;
    const cs = getComputedStyle(text);
    const line = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.5;
    const extra = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom) +
      parseFloat(cs.borderTopWidth) + parseFloat(cs.borderBottomWidth);
    const max = line * 8 + extra;
    text.style.height = 'auto';
    const wanted = text.scrollHeight + parseFloat(cs.borderTopWidth) + parseFloat(cs.borderBottomWidth);
    text.style.height = Math.min(wanted, max) + 'px';
    text.style.overflowY = wanted > max ? 'auto' : 'hidden';
  }

  function isBlank() {
    return !text || text.value.trim() === '';
  }

  // htmx's events bubble: handle the form's own only.
  function onForm(type, fn) {
    on(form, type, (e) => {
      if (e.target === form) fn(e);
    });
  }

  if (form && text) {
    on(text, 'keydown', (e) => {
      if (e.key !== 'Enter' || e.shiftKey || e.altKey) return;
      // IME composition: Enter picks a candidate, it does not send.
      if (e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      if (sending || isBlank()) return;
      form.requestSubmit();
    });

    on(text, 'input', autoGrow);
    autoGrow();

    // htmx's submit handler runs whatever else listens; this is where a
    // request can still be refused: while one is on its way, or blank.
    onForm('htmx:config:request', (e) => {
      if (sending || isBlank()) {
        e.preventDefault();
        if (isBlank()) {
          text.value = '';
          autoGrow();
          text.focus();
        }
        return;
      }
      sentText = messageFor(e.detail.ctx);
      setSending(true);
    });

    onForm('htmx:after:request', (e) => {
      const ctx = e.detail?.ctx;
      const status = ctx?.response?.status || 0;
      mendable = status >= 500;
      if (status >= 200 && status < 300) {
        outgoing = null;
        // Keep whatever was typed while the message was on its way.
        text.value = text.value.startsWith(sentText) ? text.value.slice(sentText.length).replace(/^\n+/, '') : text.value;
        autoGrow();
        showComposerError('');
        text.focus();
        return;
      }
      showComposerError(failureReason(ctx, status));
      if (status === 429) clearWhenAllowed(retryAfter(ctx));
    });

    onForm('htmx:error', () => {
      mendable = true;
      showComposerError('Could not send — check your connection.');
    });

    onForm('htmx:finally:request', () => {
      setSending(false);
      if (mendable && !retried && outgoing) retrySoon();
      mendable = false;
      // Disabling Send took focus from it; give it to the text box.
      const active = document.activeElement;
      if (!active || active === document.body || active === sendButton) text.focus();
    });
  }

  // The server answers a refused message with a plain-text reason. Past a
  // rate limit (429) the page says when sending works again; the typed text
  // stays, as after any refusal.
  function failureReason(ctx, status) {
    const wait = retryAfter(ctx);
    if (status === 429 && wait > 0) return 'Slow down — you can send again in ' + wait + ' s.';
    const type = ctx?.response?.headers?.get('Content-Type') || '';
    let reason = typeof ctx?.text === 'string' ? ctx.text.trim() : '';
    if (type.includes('html')) reason = '';
    if (reason.length > 300) reason = reason.slice(0, 300) + '…';
    return reason || 'Could not send the message (error ' + status + ').';
  }

  // retryAfter reads a response's Retry-After in seconds (0 if none).
  function retryAfter(ctx) {
    const v = ctx?.response?.headers?.get('Retry-After') || '';
    return /^[0-9]+$/.test(v) ? Number(v) : 0;
  }

  // clearWhenAllowed takes the "Slow down" notice away once its wait is
  // over, unless something else is shown by then.
  let slowDownTimer = 0;
  function clearWhenAllowed(seconds) {
    clearTimeout(slowDownTimer);
    if (!(seconds > 0)) return;
    const shown = composerError?.textContent;
    slowDownTimer = setTimeout(() => {
      if (composerError?.textContent === shown) showComposerError('');
    }, seconds * 1000);
  }

  // ---------------------------------------------------------------------
  // Start: the page as rendered by the server.

  for (const li of log.children) markOwn(li);
  formatTimes(log, true);
  refreshMembers(true);
  scrollToBottom(false);
  attention.start();
  stream.start();
}
