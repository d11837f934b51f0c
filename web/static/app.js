// The console's shell: routes on the URL path (History API, so that every page can be shared and
// reloaded), mounts one page at a time, refreshes it every few seconds while the tab is visible,
// and records how long each page took to render (window.yocho.renders, read by the browser tests).
//
// A page's load(signal, first, shown) draws it; a page whose panels arrive one by one calls
// shown() once its main content is drawn with data (the Overview: traffic, figures and open
// alerts), and load resolves when every panel is drawn. The render record says both: ms (first
// render: main content drawn; for a page that never calls shown(), everything), complete (every
// panel). The root element gets data-shown, then data-ready, with the page's path.

import { h } from './format.js';
import * as api from './api.js';
import { loadUPlot } from './chart.js';

performance.mark('yocho:app');
const REFRESH_MS = 5000;

// Each page's module is imported when the page is first shown, so that the first page waits
// only for its own code (boot.js preloads it); the others are loaded once it is drawn.
const routes = [
  [/^\/$/, () => import('./pages/overview.js'), 'overview'],
  [/^\/explore$/, () => import('./pages/explore.js'), 'explore'],
  [/^\/alerts$/, () => import('./pages/alerts.js'), 'alerts'],
  [/^\/alerts\/([^/]+)$/, () => import('./pages/alert.js'), 'alerts'],
  [/^\/exporters$/, () => import('./pages/exporters.js'), 'exporters'],
];

const state = { page: null, timer: null, abort: null, started: 0, seq: 0 };
window.yocho = { renders: [], api };

function match(path) {
  for (const [re, page, nav] of routes) {
    const m = re.exec(path);
    if (m) return { page, nav, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

function setStatus(text, kind = '') {
  const el = document.getElementById('status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

// navigate shows the page of the current URL.
async function show() {
  const seq = ++state.seq;
  // The first page counts from the navigation itself (performance's time origin): HTML, scripts,
  // API answers and drawing; later pages from the click.
  state.started = seq === 1 ? 0 : performance.now();
  if (state.page) state.page.destroy?.();
  state.abort?.abort();
  clearTimeout(state.timer);
  const main = document.getElementById('main');
  main.textContent = '';
  document.documentElement.removeAttribute('data-ready');
  document.documentElement.removeAttribute('data-shown');
  const url = new URL(location.href);
  const r = match(url.pathname.replace(/(.)\/+$/, '$1'));
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (r && a.dataset.page === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!r) {
    main.append(h('section', { class: 'panel' }, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, url.pathname), '. ', h('a', { href: '/', 'data-nav': true }, 'Back to the overview'), '.')));
    document.title = 'Not found · yocho';
    return;
  }
  let mod;
  try {
    mod = await r.page();
  } catch (err) {
    if (seq === state.seq) setStatus(`Cannot load this page: ${err.message}`, 'bad');
    return;
  }
  if (seq !== state.seq) return;
  const page = mod.default(main, { params: r.params, query: url.searchParams, navigate, api });
  state.page = page;
  document.title = `${page.title || r.nav} · yocho`;
  await refresh(seq, true);
}

async function refresh(seq, first) {
  if (seq !== state.seq) return;
  const ctl = new AbortController();
  state.abort = ctl;
  let shownAt = null;
  const shown = () => {
    if (shownAt != null || seq !== state.seq) return;
    shownAt = performance.now();
    if (first) document.documentElement.dataset.shown = location.pathname;
  };
  try {
    await state.page.load(ctl.signal, first, shown);
    if (seq !== state.seq) return;
    setStatus(`Updated ${new Date().toLocaleTimeString()}`, 'ok');
  } catch (err) {
    if (err.name === 'AbortError' || seq !== state.seq) return;
    setStatus(`Update failed: ${err.message}`, 'bad');
    state.page.failed?.(err);
  }
  if (first && seq === state.seq) {
    const end = performance.now();
    shown();
    const nav = seq === 1 ? performance.getEntriesByType('navigation')[0] : null;
    const apis = performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/api/v1/') && e.startTime >= state.started);
    window.yocho.renders.push({
      page: location.pathname,
      ms: Math.round(shownAt - state.started),
      complete: Math.round(end - state.started),
      // Where the first page's time went: the HTML, the first API request (boot.js, inline in
      // the HTML), the modules (app.js starts once they are loaded), then the answers and drawing.
      html: nav ? Math.round(nav.responseEnd) : undefined,
      first_api: apis.length ? Math.round(Math.min(...apis.map((e) => e.startTime))) : undefined,
      scripts: nav ? Math.round(performance.getEntriesByName('yocho:app')[0]?.startTime ?? 0) : undefined,
      // The slowest API answer of this render (request to last byte).
      api: Math.round(Math.max(0, ...apis.map((e) => e.responseEnd - e.startTime))),
      // Each API answer: path, request to last byte, the server's own time and what its query
      // cache did (Server-Timing: app, cache).
      calls: apis.map((e) => {
        const st = Object.fromEntries((e.serverTiming || []).map((x) => [x.name, x.description || Math.round(x.duration)]));
        return { url: e.name.slice(e.name.indexOf('/api/v1/') + 8), ms: Math.round(e.responseEnd - e.startTime), server: st.app ?? null, cache: st.cache ?? null };
      }),
    });
    document.documentElement.dataset.ready = location.pathname;
    // The navigation bar's count of ongoing alerts: asked for once the page is drawn, so that it
    // does not compete with the page's own requests. The charting library (run early by boot.js
    // on the pages with a chart) and the other pages' modules are then loaded, ready for later.
    if (seq === 1) {
      updateAlertCount();
      loadUPlot().catch(() => {});
      for (const [, load] of routes) load().catch(() => {});
    }
  }
  if (seq === state.seq) state.timer = setTimeout(tick, REFRESH_MS, seq);
}

function tick(seq) {
  if (document.hidden) {
    state.timer = setTimeout(tick, REFRESH_MS, seq);
    return;
  }
  refresh(seq, false);
  updateAlertCount();
}

// navigate goes to a path of the console (with its query); replace keeps the history entry.
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show();
}

async function updateAlertCount() {
  const el = document.getElementById('nav-alerts');
  try {
    const n = api.alertList(await api.get('alerts', { state: 'ongoing', limit: 1000, view: 'summary' })).length;
    el.textContent = String(n);
    el.hidden = n === 0;
    el.setAttribute('aria-label', `${n} ongoing`);
  } catch {
    el.hidden = true;
  }
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith('/api/') || a.target || a.hasAttribute('download')) return;
  ev.preventDefault();
  if (u.pathname + u.search !== location.pathname + location.search) navigate(u.pathname + u.search);
});
window.addEventListener('popstate', show);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.page) {
    clearTimeout(state.timer);
    refresh(state.seq, false);
  }
});

show();
