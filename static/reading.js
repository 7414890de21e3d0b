// Cloakroom's reading aids for a room's log: a separator above each day's
// first entry (in the reader's local time), one sender's consecutive
// messages grouped under one name, long messages collapsed behind "Show
// more", the reader's place kept when older entries are loaded above, and
// new entries announced to screen readers.
//
// Entries reach #log three ways: with the page, appended by the room's
// stream (or by another tab relaying it), and prepended by htmx when a page
// of history replaces the log's "Older messages" entry. This script does not
// care which: a MutationObserver on #log brings the entries around every
// change up to date. It must work under `default-src 'self'`: no inline
// code, no eval.
(() => {
  'use strict';

  const log = document.getElementById('log');
  if (!log) return;

  const me = log.dataset.me || '';
  const announcer = document.getElementById('announcer');

  const RUN_GAP = 5 * 60 * 1000; // ms: a sender's messages closer than this are one run
  const LONG_LINES = 20; // a message taller than this many lines collapses
  const ANNOUNCED = 20; // announcements kept in the live region

  function on(el, type, fn, opts) {
    el?.addEventListener(type, fn, opts);
  }

  // ---------------------------------------------------------------------
  // Entries are the log's items for events (id="e<event id>"); the day
  // separators and the history edge are items too, but not entries.

  function isEntry(el) {
    return el?.nodeType === Node.ELEMENT_NODE && el.localName === 'li' && /^e\d+$/.test(el.id);
  }

  function isSeparator(el) {
    return el?.localName === 'li' && el.classList.contains('day');
  }

  function entryFrom(el, step) {
    for (let n = el; n; n = n[step]) {
      if (isEntry(n)) return n;
    }
    return null;
  }

  const previousEntry = (li) => entryFrom(li.previousElementSibling, 'previousElementSibling');
  const nextEntry = (li) => entryFrom(li.nextElementSibling, 'nextElementSibling');

  function timeOf(li) {
    const iso = li.querySelector('time[datetime]')?.getAttribute('datetime');
    const d = iso ? new Date(iso) : null;
    return d && !Number.isNaN(d.getTime()) ? d : null;
  }

  function inDocumentOrder(a, b) {
    return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
  }

  // ---------------------------------------------------------------------
  // Days, in the reader's time zone.

  function dayKey(d) {
    return d ? `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}` : '';
  }

  function dayOfKey(key) {
    const [y, m, d] = key.split('-').map(Number);
    return new Date(y, m - 1, d);
  }

  function dayLabel(key) {
    const now = new Date();
    if (key === dayKey(now)) return 'Today';
    if (key === dayKey(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1))) return 'Yesterday';
    const day = dayOfKey(key);
    const opts = { weekday: 'long', day: 'numeric', month: 'long' };
    if (day.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
    return day.toLocaleDateString([], opts);
  }

  // A separator is a heading in its own item, so that a screen reader can
  // move from day to day.
  function newSeparator(key) {
    const li = document.createElement('li');
    li.className = 'day';
    li.dataset.day = key;
    const h = document.createElement('h2');
    h.className = 'day-title';
    h.textContent = dayLabel(key);
    li.append(h);
    return li;
  }

  function labelSeparator(sep, key) {
    sep.dataset.day = key;
    const h = sep.querySelector('.day-title');
    const label = dayLabel(key);
    if (h && h.textContent !== label) h.textContent = label;
  }

  // placeSeparator gives an entry the separator it needs (one, if it is the
  // first of its day in the log) and removes any it does not. It looks at
  // every item between the entry and the one before, as other scripts may
  // put items of their own there (a "new messages" mark, say).
  function placeSeparator(li) {
    const key = dayKey(timeOf(li));
    const prev = previousEntry(li);
    const needed = key !== '' && (!prev || dayKey(timeOf(prev)) !== key);
    let kept = null;
    for (let n = li.previousElementSibling; n && n !== prev && !n.classList.contains('history-edge');) {
      const before = n.previousElementSibling;
      if (isSeparator(n)) {
        if (needed && !kept) {
          kept = n;
        } else {
          n.remove();
        }
      }
      n = before;
    }
    if (!needed) return;
    if (kept) {
      labelSeparator(kept, key);
    } else {
      li.before(newSeparator(key));
    }
  }

  // "Today" becomes "Yesterday" at midnight.
  let today = dayKey(new Date());

  function relabelDays() {
    const key = dayKey(new Date());
    if (key === today) return;
    today = key;
    for (const sep of log.querySelectorAll(':scope > li.day')) labelSeparator(sep, sep.dataset.day);
  }

  function relabelAtMidnight() {
    const now = new Date();
    const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
    // A second late, so that the new day has surely begun; a hidden tab's
    // timer may fire later still, and visibilitychange catches up then.
    setTimeout(() => {
      relabelDays();
      relabelAtMidnight();
    }, next - now + 1000);
  }

  // ---------------------------------------------------------------------
  // Runs: a message that follows one by the same sender within RUN_GAP (on
  // the same day) shows neither name nor time. Both stay in the markup,
  // visually hidden, for screen readers; the time is also the entry's
  // tooltip.

  // One formatter, made once: making one per entry is what costs.
  const fullTime = new Intl.DateTimeFormat([], { dateStyle: 'full', timeStyle: 'short' });

  function continuesRun(prev, li) {
    if (!isEntry(prev) || !prev.classList.contains('msg') || !li.classList.contains('msg')) return false;
    if (prev.dataset.member !== li.dataset.member) return false;
    const a = timeOf(prev);
    const b = timeOf(li);
    return !!a && !!b && b - a >= 0 && b - a < RUN_GAP;
  }

  function group(li) {
    const cont = continuesRun(li.previousElementSibling, li);
    if (li.classList.contains('cont') !== cont) li.classList.toggle('cont', cont);
    const when = timeOf(li);
    if (cont && when) {
      const title = fullTime.format(when);
      if (li.title !== title) li.title = title;
    } else if (li.hasAttribute('title')) {
      li.removeAttribute('title');
    }
  }

  // ---------------------------------------------------------------------
  // Long messages collapse behind a real button.

  function longOnes(items) {
    // All reads first, then all writes: one layout for the whole batch.
    const found = [];
    let limit = 0; // px; every message's text has the same line height
    for (const li of items) {
      const text = li.classList.contains('msg') && !li.classList.contains('long') && li.querySelector('.text');
      if (!text) continue;
      limit ||= (parseFloat(getComputedStyle(text).lineHeight) || 24) * (LONG_LINES + 0.5);
      if (text.scrollHeight > limit) found.push([li, text]);
    }
    return found;
  }

  function collapse(li, text) {
    text.id ||= li.id + '-text';
    li.classList.add('long', 'collapsed');
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'more';
    more.setAttribute('aria-controls', text.id);
    text.after(more);
    setExpanded(li, false);
  }

  function setExpanded(li, open) {
    li.classList.toggle('collapsed', !open);
    const more = li.querySelector(':scope > button.more');
    if (!more) return;
    more.setAttribute('aria-expanded', String(open));
    more.textContent = open ? 'Show less' : 'Show more';
  }

  on(log, 'click', (e) => {
    const more = e.target.closest?.('button.more');
    const li = more?.closest('li.long');
    if (!li || li.parentNode !== log) return;
    const open = li.classList.contains('collapsed');
    setExpanded(li, open);
    // Folding a message the reader had scrolled through would leave them
    // far below it: bring its button back into view.
    if (!open) more.scrollIntoView({ block: 'nearest' });
  });

  // A keyboard user tabbing to a link in the hidden part sees it.
  on(log, 'focusin', (e) => {
    const li = e.target.closest?.('li.collapsed');
    if (li && e.target.closest('.text')) setExpanded(li, true);
  });

  // ---------------------------------------------------------------------
  // New entries are announced through #announcer: the list itself is not a
  // live region, or every page of history loaded above would be read out.

  function announce(li) {
    if (!announcer) return;
    let words;
    if (li.classList.contains('msg')) {
      if (me !== '' && li.dataset.member === me) return; // the reader wrote it
      words = `${li.querySelector('.author')?.textContent ?? ''}: ${li.querySelector('.text')?.textContent ?? ''}`;
    } else {
      const copy = li.cloneNode(true);
      copy.querySelector('time')?.remove();
      words = copy.textContent.replace(/\s+/g, ' ').trim();
    }
    const p = document.createElement('p');
    p.textContent = words;
    announcer.append(p);
    while (announcer.childElementCount > ANNOUNCED) announcer.firstElementChild.remove();
  }

  // appended returns the entries of a batch that arrived at the end of the
  // log (live ones), as opposed to history loaded above.
  function appended(added) {
    const out = [];
    for (let li = entryFrom(log.lastElementChild, 'previousElementSibling'); li && added.has(li); li = previousEntry(li)) {
      out.unshift(li);
    }
    return out;
  }

  // ---------------------------------------------------------------------
  // The reader's place. When htmx replaces the "Older messages" entry with
  // a page of history, the entry that was below it must stay where it was
  // on screen. The position is taken before the swap and put back once the
  // entries are in, before the browser paints.

  let anchor = null; // {el, top, focus}

  on(log, 'htmx:before:swap', (e) => {
    const edge = e.target.closest?.('.history-edge');
    if (!edge || edge.parentNode !== log) return;
    // Not the day separator below the edge: that may move up to the
    // entries loaded.
    const el = nextEntry(edge);
    anchor = el && { el, top: el.getBoundingClientRect().top, focus: edge.contains(document.activeElement) };
  });

  // With script, the log loads older entries as it is scrolled to its top,
  // and that is how the keyboard gets them too (Home, PageUp in the log).
  // Left in the Tab order, the link would load a page each time it took
  // the focus, and keep the reader from ever tabbing past it.
  function untab(edge) {
    edge.querySelector('a[hx-get]')?.setAttribute('tabindex', '-1');
  }

  // A swap that put nothing in (an error kept out of the log) leaves no
  // place to keep. (The event comes from the link, or once it is replaced
  // from the new edge.)
  on(log, 'htmx:finally:swap', (e) => {
    if (e.target.closest?.('.history-edge')) anchor = null;
  });

  function distanceFromBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight;
  }

  // ---------------------------------------------------------------------
  // Bringing entries up to date.

  // pinned is the place being kept until the task that loaded a page ends:
  // the separators this script moves are changes of the log too, and
  // app.js may answer them by scrolling, after this script has put the
  // place back.
  let pinned = null;

  function pin(kept) {
    if (!pinned) setTimeout(() => { pinned = null; });
    pinned = kept;
    // The link that was activated is gone; the log keeps the focus.
    if (kept.focus && !log.contains(document.activeElement)) log.focus({ preventScroll: true });
  }

  function keepPlace() {
    if (!pinned?.el.isConnected) return;
    const moved = pinned.el.getBoundingClientRect().top - pinned.top;
    if (moved !== 0) log.scrollTop += moved;
  }

  function refresh(entries, added) {
    const kept = anchor;
    anchor = null;
    // A reader at the bottom stays there, whatever this adds.
    const atBottom = !kept && !pinned && distanceFromBottom() <= 1;
    for (const li of [...entries].sort(inDocumentOrder)) {
      if (!li.isConnected) continue;
      placeSeparator(li);
      group(li);
    }
    if (isSeparator(log.lastElementChild)) log.lastElementChild.remove();
    for (const [li, text] of longOnes(added)) collapse(li, text);
    if (kept?.el.isConnected) {
      pin(kept);
    } else if (atBottom) {
      log.scrollTop = log.scrollHeight;
    }
  }

  new MutationObserver((records) => {
    const added = new Set();
    const touched = new Set();
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (isEntry(n) && n.parentNode === log) added.add(n);
        if (n.classList?.contains('history-edge')) untab(n);
      }
      // The entry after a removed one has a new neighbour.
      if ([...r.removedNodes].some(isEntry)) {
        const next = entryFrom(r.nextSibling, 'nextElementSibling');
        if (next) touched.add(next);
      }
    }
    for (const li of added) {
      touched.add(li);
      const next = nextEntry(li);
      if (next) touched.add(next);
    }
    if (touched.size > 0) {
      relabelDays();
      refresh(touched, added);
      for (const li of appended(added)) announce(li);
    }
    keepPlace();
  }).observe(log, { childList: true });

  on(document, 'visibilitychange', () => {
    if (!document.hidden) relabelDays();
  });

  // ---------------------------------------------------------------------
  // Start: the entries rendered with the page.

  for (const edge of log.querySelectorAll(':scope > .history-edge')) untab(edge);
  const entries = [...log.children].filter(isEntry);
  refresh(entries, entries);
  relabelAtMidnight();
})();
