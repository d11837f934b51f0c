// Browser tests of the yocho console, run by ui_test.go: headless Chromium (Debian's) driven by
// playwright-core. First, with a server that has a token (YOCHO_TOKEN): an API call without it
// is refused (401), and the console asks for it, refuses a wrong one and works with the right
// one, and /metrics has every component's metrics. For each page: it loads without console
// errors, every visible text has WCAG AA contrast, its numbers are the ones the API answered,
// and its first render is timed (see the end). Then: the filter box reports a syntax
// error where it is, an alert's page shows its victim, vector and sources, and confirming a
// mitigation calls the API. Screenshots go to $ARTIFACTS.
//
// Usage: YOCHO_URL=http://127.0.0.1:8080 YOCHO_TOKEN=... ARTIFACTS=../../artifacts node ui.mjs
// Prints one JSON line of results; exits 1 when a check fails.

import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BASE = (process.env.YOCHO_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const ARTIFACTS = process.env.ARTIFACTS || 'artifacts';
// The first-render budget: FIRST_RENDER_BUDGET_MS when set (0: only measure; the target is 1000
// on an idle machine); under CI=true 2000 ms, a regression guard that leaves room for the other
// test packages CI runs beside this one on two cores; otherwise the timings are only recorded.
const BUDGET_MS = Number(process.env.FIRST_RENDER_BUDGET_MS ?? (process.env.CI === 'true' ? 2000 : 0));
// How long the server reuses a flow query's answer (api.DefaultCacheTTL): timed loads are spaced
// by more, so that each one runs its queries on the store, as a user's first visit does.
const CACHE_TTL_MS = Number(process.env.API_CACHE_TTL_MS || 5000);
const TOKEN = process.env.YOCHO_TOKEN || '';
mkdirSync(ARTIFACTS, { recursive: true });

const failures = [];
const renders = {};
const details = {};
const paths = {};
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) failures.push(what);
  return ok;
}

async function api(path) {
  const res = await fetch(BASE + path, { headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {} });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
// A time zone that is not UTC, to see local times with UTC on hover.
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, timezoneId: 'Asia/Tokyo', locale: 'en-GB' });
if (TOKEN) await context.addInitScript((t) => sessionStorage.setItem('yocho.token', t), TOKEN);
// Every request must stay on the server: the console works without internet access.
await context.route((url) => !url.href.startsWith(BASE) && !url.href.startsWith('data:'), (route) => {
  failures.push(`request outside the server: ${route.request().url()}`);
  return route.abort();
});

// lowContrast lists the visible texts of the page whose contrast with their background is under
// WCAG's AA minimum (4.5:1, 3:1 for large text); disabled controls are exempt.
const lowContrast = (page) => page.evaluate(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  // background is what lies under el: its ancestors' backgrounds, blended from the page's up.
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) layers.push(c);
      if (c && c.a >= 1) break;
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const out = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent.trim()) continue;
    seen.add(el);
    const box = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (!box.width || !box.height || box.right < 0 || cs.visibility === 'hidden' || el.closest('[disabled], [hidden], dialog:not([open])')) continue;
    const bg = background(el);
    const fg = over(parse(cs.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\s+/g, '.') : ''} "${n.textContent.trim().slice(0, 24)}" ${ratio.toFixed(2)}:1`);
  }
  return out;
});

// visit opens path in a new tab and waits for its first render; it returns the tab, the console
// errors seen, and the JSON answers the page received, by API path.
async function visit(name, path, { allowErrors = [] } = {}) {
  const page = await context.newPage();
  const errors = [];
  const answers = [];
  page.on('console', (m) => { if (m.type() === 'error' && !allowErrors.some((re) => re.test(m.text()))) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('response', async (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith('/api/v1/')) return;
    try { answers.push({ path: u.pathname, query: u.searchParams, status: r.status(), body: await r.json() }); } catch { /* not JSON */ }
  });
  await page.goto(BASE + path, { waitUntil: 'load' });
  await page.waitForSelector('html[data-ready]', { timeout: 15000 });
  paths[name] = path;
  // Let the charts settle before the pictures.
  await page.waitForTimeout(300);
  check(errors.length === 0, `${name}: console errors: ${errors.join(' | ')}`);
  const low = await lowContrast(page);
  check(low.length === 0, `${name}: text under the contrast minimum: ${low.join(' | ')}`);
  return { page, errors, answers };
}

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `ui-${name}.png`), fullPage: true });
const answer = (answers, path, pred = () => true) => answers.filter((a) => a.path === `/api/v1/${path}` && pred(a.query)).at(-1);

// Compares a top-N table with the API answer the page drew it from: same keys, same values, in order.
async function checkTop(page, name, tableSel, ans) {
  if (!check(ans && ans.status === 200, `${name}: no answer for ${tableSel}`)) return;
  const rows = ans.body.rows || [];
  const shown = await page.$$eval(`${tableSel} tbody tr`, (trs) => trs.map((tr) => ({
    keys: [...tr.querySelectorAll('td.key')].map((td) => td.textContent.trim()),
    value: Number(tr.querySelector('[data-value]')?.dataset.value),
  }))).catch(() => []);
  check(shown.length === rows.length, `${name}: ${tableSel} shows ${shown.length} rows, the API answered ${rows.length}`);
  rows.forEach((row, i) => {
    const s = shown[i];
    if (!s) return;
    check(Math.abs(s.value - row.value) <= 1e-9 * Math.max(1, Math.abs(row.value)), `${name}: ${tableSel} row ${i} value ${s.value}, API ${row.value}`);
    check(s.keys.length === row.key.length && row.key.every((k, j) => s.keys[j] === k || s.keys[j] === `AS${k}`), `${name}: ${tableSel} row ${i} keys ${s.keys}, API ${row.key}`);
  });
}

// section runs one page's checks; an exception fails the section, not the whole run.
async function section(name, fn) {
  try {
    await fn();
  } catch (e) {
    failures.push(`${name}: ${e.message.split('\n')[0]}`);
  }
}

// --- The token: refused without it, asked for by the console, then everything works. ----------
if (TOKEN) await section('token', async () => {
  const bare = await fetch(BASE + '/api/v1/exporters');
  const body = await bare.json().catch(() => ({}));
  check(bare.status === 401 && typeof body.error === 'string', `token: an API call without the token answered ${bare.status} ${JSON.stringify(body)}, want 401 with an error`);
  const metrics = await fetch(BASE + '/metrics');
  check(metrics.status === 401, `token: /metrics without the token answered ${metrics.status}, want 401`);
  // With it, Prometheus metrics from every component.
  const scrape = await fetch(BASE + '/metrics', { headers: { Authorization: `Bearer ${TOKEN}` } });
  const text = scrape.ok ? await scrape.text() : '';
  for (const c of ['collector', 'netflow', 'sflow', 'store', 'ddos', 'cnc', 'alert', 'mitigation', 'api']) {
    check(new RegExp(`^yocho_${c}_\\w+`, 'm').test(text), `metrics: no yocho_${c}_ metric on /metrics (${scrape.status})`);
  }
  const wrong = await fetch(BASE + '/api/v1/exporters', { headers: { Authorization: 'Bearer not-the-token-0123456789' } });
  check(wrong.status === 401, `token: a wrong token got ${wrong.status}, want 401`);
  // A browser that has no token: the console asks, refuses a wrong one, works with the right one.
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(BASE + '/exporters', { waitUntil: 'load' });
  await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
  check(await page.isHidden('#token-error'), 'token: the dialog says "refused" before any token was given');
  await shot(page, 'token');
  await page.fill('#token-input', 'not-the-token-0123456789');
  await page.press('#token-input', 'Enter');
  await page.waitForSelector('#token-dialog[open] #token-error:not([hidden])', { timeout: 10000 });
  check(await page.getAttribute('html', 'data-ready') === null, 'token: the page rendered with a wrong token');
  await page.fill('#token-input', TOKEN);
  await page.press('#token-input', 'Enter');
  await page.waitForSelector('html[data-ready="/exporters"]', { timeout: 15000 });
  check(!(await page.isVisible('#token-dialog')), 'token: the dialog stays open with the right token');
  const rows = await page.$$eval('#exporters-table tbody tr', (trs) => trs.length).catch(() => 0);
  check(rows > 0, 'token: no exporter shown after signing in');
  check(errors.length === 0, `token: console errors: ${errors.join(' | ')}`);
  await ctx.close();
});

// --- Overview ---------------------------------------------------------------------------------
await section('overview', async () => {
  const { page, answers } = await visit('overview', '/');
  for (const d of ['dst_addr', 'src_addr', 'src_as', 'exporter']) {
    await checkTop(page, 'overview', `#top-${d}-table`, answer(answers, 'flows/top', (q) => q.get('by') === d));
  }
  const al = answer(answers, 'alerts', (q) => q.get('state') === 'ongoing' && !q.has('limit'));
  if (check(al && al.status === 200, 'overview: no alerts answer')) {
    const n = Number((await page.textContent('#kpi-alerts')).replace(/\D/g, ''));
    check(n === al.body.length, `overview: ${n} open alerts shown, the API answered ${al.body.length}`);
    const levels = await page.$$eval('#open-alerts-table tbody .threat', (els) => els.map((e) => Number(e.textContent)));
    check(levels.every((l, i) => i === 0 || levels[i - 1] >= l), `overview: open alerts not sorted by threat: ${levels}`);
  }
  // The traffic figures: the sum of the series at a complete bucket (not the last, still
  // filling) of the answer drawn, and not 0 while the simulator sends traffic.
  for (const [id, metric] of [['kpi-bps', 'bps'], ['kpi-pps', 'pps']]) {
    const ans = answer(answers, 'flows/series', (q) => q.get('metric') === metric);
    if (!check(ans && ans.status === 200, `overview: no ${metric} series answer`)) continue;
    const shown = await page.$eval(`#${id}`, (e) => ({ value: Number(e.dataset.value), at: Number(e.dataset.at) }));
    const times = (ans.body.times || []).map((t) => Date.parse(t) / 1000);
    const i = times.indexOf(shown.at);
    if (!check(i >= 0 && i < times.length - 1, `overview: #${id} is for ${shown.at}, not a complete bucket of the answer`)) continue;
    const sum = ans.body.series.reduce((a, s) => a + (s.values[i] || 0), 0);
    check(Math.abs(shown.value - sum) <= 1e-9 * Math.max(1, sum), `overview: #${id} shows ${shown.value}, the API's bucket sums to ${sum}`);
    check(sum > 0, `overview: #${id} is 0 while traffic flows`);
    // Units scale: "288 Mbps", a figure from 1 to 999 with k, M, G or T.
    const text = (await page.textContent(`#${id}`)).trim();
    const m = /^([\d.]+) ([kMGT]?)(bps|pps)$/.exec(text);
    const scaled = m && Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]]);
    check(m && m[3] === metric && (sum < 1 || Number(m[1]) >= 1) && Number(m[1]) < 1000 && Math.abs(scaled - sum) <= 0.01 * sum,
      `overview: #${id} reads "${text}" for ${sum} ${metric}`);
  }
  // Times in the browser's zone (the test's context is in Asia/Tokyo), UTC on hover.
  const local = await page.$eval('#kpi-bps + .kpi-sub time', (t) => ({ text: t.textContent, at: t.getAttribute('datetime'), title: t.title })).catch(() => null);
  if (check(local, 'overview: the traffic figure names no time')) {
    const tokyo = new Date(local.at).toLocaleTimeString('en-GB', { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit' });
    check(local.text.startsWith(tokyo), `overview: time shown "${local.text}" for ${local.at}, want Tokyo's ${tokyo}`);
    check(local.title === local.at.replace('.000Z', 'Z') + ' (UTC)', `overview: time's hover "${local.title}", want ${local.at} (UTC)`);
  }
  const ts = await page.$('time[title$="(UTC)"]');
  if (ts) check(/Z \(UTC\)$/.test(await ts.getAttribute('title')), 'overview: a time without UTC on hover');
  const charts = await page.$$eval('#chart-bps canvas, #chart-pps canvas', (c) => c.length);
  const series = answer(answers, 'flows/series');
  check(charts === 2 || (series && series.status === 200 && (series.body.times || []).length === 0), `overview: ${charts} charts drawn, want 2`);
  await shot(page, 'overview');
  await page.close();
});

// --- Explore ----------------------------------------------------------------------------------
await section('explore', async () => {
  const q = new URLSearchParams({ metric: 'bps', by: 'dst_port', since: '1h', limit: '10', filter: 'proto = udp' });
  const { page, answers } = await visit('explore', `/explore?${q}`, { allowErrors: [/status of 400/] });
  await checkTop(page, 'explore', '#explore-top-table', answer(answers, 'flows/top'));
  check((await page.inputValue('#filter')) === 'proto = udp', 'explore: the filter of the URL is not in the box');
  // Suggestions: field names as one types.
  await page.fill('#filter', '');
  await page.focus('#filter');
  await page.keyboard.type('dst_');
  await page.waitForSelector('#filter-suggestions li', { timeout: 3000 }).catch(() => null);
  const sugg = await page.$$eval('#filter-suggestions li .sugg-text', (els) => els.map((e) => e.textContent));
  check(sugg.includes('dst_addr') && sugg.includes('dst_port'), `explore: suggestions for "dst_" are ${sugg}`);
  await page.keyboard.press('Tab'); // picks the first suggestion
  const afterPick = await page.inputValue('#filter');
  check(/^dst_\w+ $/.test(afterPick), `explore: picking a suggestion gave "${afterPick}"`);
  await page.waitForTimeout(150);
  const ops = await page.$$eval('#filter-suggestions li .sugg-text', (els) => els.map((e) => e.textContent));
  check(ops.includes('=') && ops.includes('in'), `explore: operators not suggested after a field: ${ops}`);
  await shot(page, 'explore-suggestions');
  await page.keyboard.press('Escape');
  // A syntax error is shown where it is.
  const bad = 'proto = udp and (dst_port = 53 or ) and src_port = 1';
  await page.fill('#filter', bad);
  const resp = page.waitForResponse((r) => r.url().includes('/api/v1/flows/') && r.status() === 400, { timeout: 5000 });
  await page.press('#filter', 'Enter');
  const r400 = await resp.catch(() => null);
  if (check(r400, 'explore: a bad filter did not get a 400 answer')) {
    const body = await r400.json();
    const col = /column (\d+)/.exec(body.error);
    const want = Number.isFinite(body.position) ? body.position : col ? Number(col[1]) - 1 : null;
    await page.waitForSelector('#filter-error:not([hidden])', { timeout: 3000 }).catch(() => null);
    const pos = await page.getAttribute('#filter-error', 'data-position');
    const msg = await page.textContent('#filter-error');
    check(want != null && Number(pos) === want, `explore: error shown at ${pos}, the API says ${want} (${body.error})`);
    check(bad.indexOf(')', 20) === want, `explore: the API put the error at ${want}, the unexpected ")" is at ${bad.indexOf(')', 20)}`);
    check(msg.includes(body.error), `explore: error message "${msg}" lacks the API's "${body.error}"`);
    check((await page.getAttribute('#filter', 'aria-invalid')) === 'true', 'explore: the box is not marked invalid');
    check(new URL(page.url()).searchParams.get('filter') === bad, 'explore: the query is not in the URL');
  }
  await shot(page, 'explore-error');
  await page.close();
});

// --- Alerts -----------------------------------------------------------------------------------
// The alert to open is an ongoing DDoS alert, whose mitigation can be confirmed: the simulator's
// first attack raises one about a minute after live traffic starts (a C&C alert comes sooner).
let alertId = process.env.ALERT_ID || '';
let ddos = null;
for (let i = 0; i < 180 && !alertId && !ddos; i++) {
  const list = await api('/api/v1/alerts?view=summary').catch(() => []);
  ddos = list.find((a) => a.kind === 'ddos' && a.state === 'ongoing');
  if (!ddos) await new Promise((r) => setTimeout(r, 1000));
}
if (!alertId) check(ddos, 'alerts: no ongoing DDoS alert within 3 minutes of live traffic');
let cncId = '';
await section('alerts', async () => {
  const { page, answers } = await visit('alerts', '/alerts?since=');
  const al = answer(answers, 'alerts', (q) => !q.has('limit'));
  if (check(al && al.status === 200, 'alerts: no answer')) {
    const rows = await page.$$eval('#alerts-table tbody tr', (trs) => trs.length).catch(() => 0);
    check(rows === al.body.length, `alerts: ${rows} rows, the API answered ${al.body.length}`);
    if (!alertId && ddos) {
      check(al.body.some((a) => a.id === ddos.id), `alerts: the DDoS alert ${ddos.id} is not listed`);
      alertId = ddos.id;
    }
    if (!alertId && al.body.length) alertId = (al.body.find((a) => a.state === 'ongoing') || al.body[0]).id;
    cncId = (al.body.find((a) => a.kind === 'cnc') || {}).id || '';
  }
  await shot(page, 'alerts');
  await page.close();
});

// --- An alert ---------------------------------------------------------------------------------
if (check(alertId, 'alerts: no alert to open (the simulator should have raised one)')) await section('alert', async () => {
  const { page, answers } = await visit('alert', `/alerts/${encodeURIComponent(alertId)}`);
  const a = answer(answers, `alerts/${alertId}`);
  if (check(a && a.status === 200, 'alert: no answer')) {
    const al = a.body;
    const victims = await page.textContent('#alert-victims');
    check((al.victims || []).every((v) => victims.includes(v)), `alert: victims "${victims}", API ${al.victims}`);
    check((await page.textContent('#alert-vector')) === al.vector, 'alert: vector not shown');
    const srcs = await page.$$eval('#alert-sources-table tbody tr td:first-child', (tds) => tds.map((t) => t.textContent.trim())).catch(() => []);
    check((al.top_sources || []).length > 0, 'alert: the API gave no top sources');
    check(srcs.length === (al.top_sources || []).length && al.top_sources.every((s, i) => srcs[i] === s.value), `alert: sources ${srcs}, API ${(al.top_sources || []).map((s) => s.value)}`);
    const reasons = await page.$$eval('#alert-reasons li', (l) => l.length);
    check(reasons === (al.threat_reasons || []).length, `alert: ${reasons} threat reasons shown, API ${(al.threat_reasons || []).length}`);
    await shot(page, 'alert');
    // Confirm the mitigation: a dialog, then a POST to the API.
    const button = page.locator('#mitigation-confirm');
    if (check(await button.count() === 1, 'alert: no confirm button')) {
      if (await button.isDisabled()) {
        // Already announced (auto mode) or ended: withdraw instead, which must call the API too.
        if (!check(await page.isEnabled('#mitigation-withdraw'), `alert: neither confirm nor withdraw is offered (${await page.textContent('#mitigation-status')})`)) throw new Error('no mitigation action to test');
        await page.click('#mitigation-withdraw');
      } else {
        await page.click('#mitigation-confirm');
      }
      await page.waitForSelector('#confirm-dialog[open]', { timeout: 3000 });
      await shot(page, 'alert-confirm');
      const req = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/api/v1/alerts/${encodeURIComponent(alertId)}/mitigation`), { timeout: 5000 });
      await page.click('#confirm-ok');
      const posted = await req.catch(() => null);
      if (check(posted, 'alert: confirming did not call the API')) {
        const body = posted.postDataJSON();
        check(['confirm', 'withdraw'].includes(body.action), `alert: posted ${JSON.stringify(body)}`);
        const res = await posted.response();
        check(res && res.status() < 500, `alert: the mitigation call answered ${res && res.status()}`);
        // The page redraws the mitigation as the server now has it.
        if (res && res.ok()) {
          const now = await api(`/api/v1/alerts/${encodeURIComponent(alertId)}`).catch(() => null);
          const want = now && now.mitigation && now.mitigation.state;
          const shownState = await page.waitForFunction((w) => document.querySelector('#mitigation-status .badge')?.textContent === w, want, { timeout: 5000 }).then(() => true, () => false);
          check(want && shownState, `alert: after ${body.action}, the page shows "${await page.textContent('#mitigation-status .badge')}", the API "${want}"`);
        }
      }
      await page.waitForTimeout(300);
      await shot(page, 'alert-after-confirm');
    }
  }
  await page.close();
});

// --- A C&C alert: about a server, not a volume: its page names the server, shows no traffic
// peak or timeline, and offers no mitigation when the server refuses one. ------------------------
if (cncId) await section('alert-cnc', async () => {
  const { page, answers } = await visit('alert-cnc', `/alerts/${encodeURIComponent(cncId)}`);
  delete paths['alert-cnc']; // not timed: the DDoS alert's page is
  const a = answer(answers, `alerts/${cncId}`);
  if (check(a && a.status === 200, 'alert-cnc: no answer')) {
    const al = a.body;
    const server = String(al.key || '').replace(/^cnc:/, '');
    check((await page.textContent('#alert-cnc-server')).trim() === server, `alert-cnc: server shown "${await page.textContent('#alert-cnc-server')}", API key ${al.key}`);
    check(await page.isHidden('#alert-timeline'), 'alert-cnc: a traffic timeline is shown for a C&C alert');
    check(await page.$('#alert-peak') === null, 'alert-cnc: a traffic peak is shown for a C&C alert');
    if (al.mitigation && al.mitigation.state === 'refused') {
      check(await page.isDisabled('#mitigation-confirm'), 'alert-cnc: "Confirm mitigation" is offered though the server refuses it');
      check((await page.textContent('#alert-mitigation')).includes(al.mitigation.reason || ''), 'alert-cnc: the refusal is not explained');
    }
    await shot(page, 'alert-cnc');
  }
  await page.close();
});

// --- Exporters --------------------------------------------------------------------------------
await section('exporters', async () => {
  const { page, answers } = await visit('exporters', '/exporters');
  const ex = answer(answers, 'exporters');
  if (check(ex && ex.status === 200, 'exporters: no answer')) {
    const shown = await page.$$eval('#exporters-table tbody tr', (trs) => trs.map((tr) => ({
      address: tr.querySelector('th').textContent.trim(),
      flows: Number(tr.querySelector('[data-value]').dataset.value),
    }))).catch(() => []);
    check(shown.length === ex.body.length, `exporters: ${shown.length} rows, the API answered ${ex.body.length}`);
    for (const e of ex.body) {
      const s = shown.find((x) => x.address === e.address);
      check(s && s.flows === e.flows, `exporters: ${e.address} shows ${s && s.flows} flows, API ${e.flows}`);
    }
    // The page refreshes itself: after a refresh the rate column has figures.
    await page.waitForTimeout(5600);
    const rates = await page.$$eval('#exporters-table tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));
    check(rates.every((r) => r !== '…'), `exporters: no rate after a refresh: ${rates}`);
  }
  await shot(page, 'exporters');
  await page.close();
});

// --- Keyboard: the navigation bar is reachable and works without a mouse. ----------------------
await section('keyboard', async () => {
  const page = await context.newPage();
  await page.goto(BASE + '/', { waitUntil: 'load' });
  await page.waitForSelector('html[data-ready]');
  let reached = false;
  for (let i = 0; i < 8 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.getAttribute('href') === '/exporters');
  }
  if (check(reached, 'keyboard: Tab does not reach the Exporters link')) {
    await page.keyboard.press('Enter');
    await page.waitForSelector('html[data-ready="/exporters"]', { timeout: 5000 }).catch(() => null);
    check(new URL(page.url()).pathname === '/exporters', 'keyboard: Enter on the link did not navigate');
  }
  await page.close();
});

// --- First render. Each page is loaded in a new tab once to warm up (the browser's cache of the
// console's files, the server's of the store's files), then RUNS times; the median is checked
// against the budget. Each timed load must have asked its first API question before its modules
// ran (boot.js, inline in the HTML) and never the same URL twice. The time runs from the navigation (the tab's time origin) to the page's
// main content drawn with its data: data-shown, window.yocho.renders[0].ms. For every page but
// the Overview that is the whole page; the Overview's main content is the traffic charts, the
// figures and the open alerts, and its top-N tables (which scan raw flows) may fill in after:
// that time is recorded as "complete". Loads are spaced by more than the API's cache TTL and a
// load that any cached answer served fails the check, so each timed load runs its queries.
const RUNS = Number(process.env.RENDER_RUNS || 3);
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const complete = {};
for (const [name, path] of Object.entries(paths)) {
  await section(`${name} timing`, async () => {
    const runs = [];
    for (let i = 0; i <= RUNS; i++) {
      await sleep(CACHE_TTL_MS + 500);
      const page = await context.newPage();
      await page.goto(BASE + path, { waitUntil: 'load' });
      await page.waitForSelector('html[data-ready]', { timeout: 30000 });
      const r = await page.evaluate(() => window.yocho.renders[0]);
      await page.close();
      if (i === 0) continue; // the warm-up
      runs.push(r);
      const hits = (r.calls || []).filter((c) => c.cache === 'hit');
      check(hits.length === 0, `${name} timing: answers from the API's cache in a timed load: ${hits.map((c) => c.url).join(', ')}`);
      // The page's first requests leave with the HTML (boot.js), before its modules run, and the
      // page uses those answers rather than asking again.
      const urls = (r.calls || []).map((c) => c.url);
      const twice = urls.filter((u, j) => urls.indexOf(u) !== j);
      check(twice.length === 0, `${name} timing: the API was asked twice for ${twice.join(', ')} (boot.js and the page build different URLs?)`);
      check(r.first_api != null && r.scripts > 0 && r.first_api < r.scripts, `${name} timing: the first API request left at ${r.first_api} ms, the modules ran at ${r.scripts} ms: boot.js did not ask first`);
    }
    renders[name] = median(runs.map((r) => r.ms));
    complete[name] = median(runs.map((r) => r.complete ?? r.ms));
    details[name] = runs;
    if (BUDGET_MS > 0) check(renders[name] <= BUDGET_MS, `${name}: first render took ${renders[name]} ms (median of ${runs.map((r) => r.ms).join(', ')}; budget ${BUDGET_MS} ms)`);
  });
}

await browser.close();
const out = { ok: failures.length === 0, checks, failures, budget: BUDGET_MS, renders, complete, details };
writeFileSync(join(ARTIFACTS, 'ui-results.json'), JSON.stringify(out, null, 2));
console.log(JSON.stringify(out));
process.exit(failures.length ? 1 : 0);
