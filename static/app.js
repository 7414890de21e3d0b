// Cloakroom's page script: the room's composer, log and connection state.
//
// htmx and its SSE extension do the talking to the server; this file only
// adds what markup cannot say: Enter to send, marking the reader's own
// messages, local times, keeping the log scrolled, and showing whether the
// stream is live. It must work under `default-src 'self'`: no inline code,
// no eval, no hx-on. On pages without a room log it does nothing.
(() => {
  'use strict';

  const log = document.getElementById('log');
  if (!log) return;

  const me = log.dataset.me || '';
  const room = log.dataset.room || '';
  const jump = document.getElementById('jump');
  const conn = document.getElementById('conn');
  const form = document.getElementById('composer');
  const text = document.getElementById('text');
  const composerError = document.getElementById('composer-error');
  const sendButton = form && form.querySelector('button[type="submit"], button:not([type])');

  const NEAR_BOTTOM = 80; // px from the bottom that still counts as "at the bottom"
  const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

  // ---------------------------------------------------------------------
  // Reloading. The server decides what a reload shows (the room again, or
  // the join page once the member is gone), so a reload is the answer to
  // both "reset" and "you left". Neither may loop: "you left" reloads at
  // most once per member, "reset" at most once in ten seconds.

  let reloading = false;
  let unloading = false;
  window.addEventListener('pagehide', () => { unloading = true; });
  window.addEventListener('pageshow', () => { unloading = false; });

  function storageKey(reason) {
    return 'cloakroom:' + reason + ':' + room + ':' + me;
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

  // Leaving makes our own member vanish from the list, which would otherwise
  // read as "you left" and reload the room over the navigation to the front
  // page, aborting it.
  const leaveForm = document.querySelector('form.leave');
  if (leaveForm) {
    leaveForm.addEventListener('submit', () => { reloading = true; });
  }

  // ---------------------------------------------------------------------
  // Connection state, shown in #conn.

  const LABELS = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    paused: 'Paused',
    offline: 'Offline',
  };

  function setConn(state) {
    if (!conn || reloading) return;
    if (document.hidden && state === 'reconnecting') state = 'paused';
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

  function showJump() {
    if (jump) jump.hidden = false;
  }

  function hideJump() {
    if (jump) jump.hidden = true;
  }

  log.addEventListener('scroll', () => {
    const atBottom = distanceFromBottom() <= NEAR_BOTTOM;
    if (Date.now() < smoothUntil && !atBottom) return;
    smoothUntil = 0;
    stuck = atBottom;
    if (atBottom) hideJump();
  }, { passive: true });

  log.addEventListener('scrollend', () => { smoothUntil = 0; });

  if (jump) {
    jump.addEventListener('click', () => {
      scrollToBottom(true);
      // The button hides under the pointer: keep focus on the log rather
      // than losing it to <body>.
      log.focus({ preventScroll: true });
    });
  }

  // The composer growing, the window resizing or a phone keyboard opening
  // shrink the log; a reader at the bottom should stay there.
  if ('ResizeObserver' in window) {
    new ResizeObserver(() => {
      if (stuck) log.scrollTop = log.scrollHeight;
    }).observe(log);
  }

  // ---------------------------------------------------------------------
  // Local times.

  let today = new Date().toDateString();

  function formatTime(t) {
    const iso = t.getAttribute('datetime');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return;
    const clock = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
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
    // The page as served always lists the reader; only a swapped-in list
    // can tell that the reader has left.
    if (!found && initial !== true) memberGone();
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
  // New log entries, however they arrive (the stream's beforeend swap).

  function entriesAdded(items) {
    let fresh = false;
    let own = false;
    for (const li of items) {
      // A resumed stream must not show an entry twice.
      if (li.id && document.querySelectorAll('#' + CSS.escape(li.id)).length > 1) {
        li.remove();
        continue;
      }
      markOwn(li);
      formatTimes(li, true);
      fresh = true;
      if (li.classList.contains('msg') && isMine(li)) own = true;
    }
    if (!fresh) return;
    if (stuck || own) {
      scrollToBottom(false);
    } else {
      showJump();
    }
  }

  new MutationObserver((records) => {
    const items = [];
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType === Node.ELEMENT_NODE && n.parentNode === log) items.push(n);
      }
    }
    if (items.length) {
      refreshDay();
      entriesAdded(items);
    }
  }).observe(log, { childList: true });

  // The out-of-band member list replaces #members wholesale.
  const membersPane = document.querySelector('.members-pane');
  if (membersPane) {
    new MutationObserver(() => refreshMembers(false)).observe(membersPane, { childList: true, subtree: true });
  }

  // Belt and braces: whatever htmx swapped, bring the page up to date.
  document.addEventListener('htmx:after:swap', () => {
    for (const li of log.children) markOwn(li);
    formatTimes(log, false);
    refreshMembers(false);
  });

  // ---------------------------------------------------------------------
  // The event stream.

  let lastEventID = '';
  let restartTimer = 0;
  let restartDelay = 1000;

  log.addEventListener('htmx:sse:before:connection', (e) => {
    if (e.target !== log) return;
    const c = e.detail && e.detail.connection;
    if (c && c.attempt >= 1) setConn('reconnecting');
  });

  log.addEventListener('htmx:sse:after:connection', (e) => {
    if (e.target !== log) return;
    restartDelay = 1000;
    setConn(document.hidden ? 'paused' : 'live');
  });

  log.addEventListener('htmx:sse:before:message', (e) => {
    if (e.target !== log) return;
    const id = e.detail && e.detail.message && e.detail.message.id;
    if (id) lastEventID = id;
  });

  log.addEventListener('htmx:sse:error', (e) => {
    if (e.target !== log) return;
    setConn('reconnecting');
  });

  // The extension reconnects by itself while the stream is open. It gives up
  // only when the first request fails (below) or the stream closes; then
  // start it again from the last event seen.
  log.addEventListener('htmx:sse:close', (e) => {
    if (e.target !== log) return;
    restartStream();
  });

  // A first request that got no stream: a network error, or an error status
  // (which hx-status keeps out of the log).
  log.addEventListener('htmx:error', (e) => {
    if (e.target !== log) return;
    restartStream();
  });

  log.addEventListener('htmx:after:request', (e) => {
    if (e.target !== log) return;
    const ctx = e.detail && e.detail.ctx;
    const status = ctx && ctx.response ? ctx.response.status : 0;
    if (status >= 400) restartStream();
  });

  function streamURL() {
    const attr = log.getAttribute('hx-sse:connect');
    if (!attr) return null;
    const url = new URL(attr, location.href);
    if (lastEventID) url.searchParams.set('since', lastEventID);
    return url.pathname + url.search;
  }

  function restartStream() {
    if (unloading || reloading || restartTimer || !log.isConnected) return;
    setConn('reconnecting');
    const delay = restartDelay * (0.8 + Math.random() * 0.4);
    restartDelay = Math.min(restartDelay * 2, 60000);
    restartTimer = setTimeout(() => {
      restartTimer = 0;
      if (unloading || reloading || !log.isConnected) return;
      if (document.hidden) {
        document.addEventListener('visibilitychange', restartStream, { once: true });
        return;
      }
      const url = streamURL();
      if (!url || !window.htmx) return;
      window.htmx.ajax('GET', url, { source: log }).catch(() => restartStream());
    }, delay);
  }

  // A named "reset" event: the reader's place in the history is gone, and
  // the page must be rendered afresh. (A form's native reset also bubbles,
  // hence the target check.) Should the server say it again right after a
  // reload, wait a little before obeying, rather than reload in a loop.
  log.addEventListener('reset', (e) => {
    if (e.target !== log) return;
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
  });

  // The extension drops the stream while the tab is hidden and resumes it
  // when the tab is shown again.
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      setConn('paused');
    } else {
      refreshDay();
      if (conn && conn.dataset.state === 'paused') setConn('reconnecting');
    }
  });

  // ---------------------------------------------------------------------
  // The composer.

  let sending = false;
  let sentText = ''; // what the request in flight carries

  function showComposerError(message) {
    if (composerError) composerError.textContent = message;
  }

  function setSending(on) {
    sending = on;
    if (sendButton) sendButton.disabled = on;
    if (form) form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // Browsers without field-sizing: content grow the box here instead.
  const growByScript = !(window.CSS && CSS.supports && CSS.supports('field-sizing', 'content'));

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

  if (form && text) {
    text.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || e.shiftKey || e.altKey) return;
      // IME composition: Enter picks a candidate, it does not send.
      if (e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      if (sending || isBlank()) return;
      form.requestSubmit();
    });

    text.addEventListener('input', autoGrow);
    autoGrow();

    // htmx's submit handler runs whatever else listens; this is where a
    // request can still be refused: while one is on its way, or blank.
    form.addEventListener('htmx:config:request', (e) => {
      if (e.target !== form) return;
      if (sending || isBlank()) {
        e.preventDefault();
        if (isBlank()) {
          text.value = '';
          autoGrow();
          text.focus();
        }
        return;
      }
      sentText = text.value;
      setSending(true);
    });

    form.addEventListener('htmx:after:request', (e) => {
      if (e.target !== form) return;
      const ctx = e.detail && e.detail.ctx;
      const status = ctx && ctx.response ? ctx.response.status : 0;
      if (status >= 200 && status < 300) {
        // Keep whatever was typed while the message was on its way.
        text.value = text.value.startsWith(sentText) ? text.value.slice(sentText.length).replace(/^\n+/, '') : text.value;
        autoGrow();
        showComposerError('');
        text.focus();
        return;
      }
      showComposerError(failureReason(ctx, status));
    });

    form.addEventListener('htmx:error', (e) => {
      if (e.target !== form) return;
      showComposerError('Could not send — check your connection.');
    });

    form.addEventListener('htmx:finally:request', (e) => {
      if (e.target !== form) return;
      setSending(false);
      // Disabling Send took focus from it; give it to the text box.
      const active = document.activeElement;
      if (!active || active === document.body || active === sendButton) text.focus();
    });
  }

  // The server answers a refused message with a plain-text reason.
  function failureReason(ctx, status) {
    const type = (ctx && ctx.response && ctx.response.headers && ctx.response.headers.get('Content-Type')) || '';
    let reason = ctx && typeof ctx.text === 'string' ? ctx.text.trim() : '';
    if (type.includes('html')) reason = '';
    if (reason.length > 300) reason = reason.slice(0, 300) + '…';
    return reason || 'Could not send the message (error ' + status + ').';
  }

  // ---------------------------------------------------------------------
  // Start: the page as rendered by the server.

  setConn(document.hidden ? 'paused' : 'connecting');
  for (const li of log.children) markOwn(li);
  formatTimes(log, true);
  refreshMembers(true);
  scrollToBottom(false);
})();
