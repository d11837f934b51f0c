// Overview: the network at a glance. Traffic in bps and pps stacked by protocol, the top
// destinations, sources, AS numbers and exporters, and the open alerts, highest threat first.

import { h, bps, pps, int, time, duration, victim, elapsed } from '../format.js';
import { panel, topTable, table, threat, kpi, replace, errorBox } from '../ui.js';
import { StackedChart } from '../chart.js';

const RANGES = ['15m', '1h', '6h', '24h'];
// The charts' bucket for each range: 60 to 96 points, as many as a chart half the page wide
// shows apart, each from the coarsest tier that has it (6h: the 5-minute roll-ups, a quarter of
// the rows of the 1-minute ones). boot.js asks for the same.
const BUCKETS = { '15m': '10s', '1h': '1m', '6h': '5m', '24h': '15m' };
const TOPS = [
  ['dst_addr', 'Top destinations'],
  ['src_addr', 'Top sources'],
  ['src_as', 'Top source AS numbers'],
  ['exporter', 'Top exporters'],
];

export default function overview(root, { query, api }) {
  const since = RANGES.includes(query.get('since')) ? query.get('since') : '6h';
  const bucket = BUCKETS[since];
  const el = {
    kpis: h('div', { class: 'kpis' }),
    alerts: h('div', { id: 'open-alerts' }),
    bps: h('div', { class: 'chart', id: 'chart-bps' }),
    pps: h('div', { class: 'chart', id: 'chart-pps' }),
    tops: Object.fromEntries(TOPS.map(([d]) => [d, h('div', { id: `top-${d}` })])),
    error: h('div'),
  };
  const range = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' },
    RANGES.map((r) => h('a', { href: r === '6h' ? '/' : `/?since=${r}`, 'aria-current': r === since ? 'true' : null }, r)));
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Overview'), range),
    el.error,
    el.kpis,
    h('div', { class: 'grid-2' },
      panel('Traffic (bps) by protocol', el.bps),
      panel('Packets (pps) by protocol', el.pps)),
    panel('Open alerts', el.alerts),
    h('div', { class: 'grid-4' }, TOPS.map(([d, title]) => panel(`${title}`, h('p', { class: 'panel-sub' }, `average bps over ${since}`), el.tops[d]))),
  );
  const charts = { bps: new StackedChart(el.bps, { fmt: bps, label: 'bps' }), pps: new StackedChart(el.pps, { fmt: pps, label: 'pps' }) };
  const explore = (d, v) => `/explore?${new URLSearchParams({ filter: `${d} = ${v}`, by: 'proto', metric: 'bps', since })}`;

  // The top-N tables average over the whole range: a refresh asks for them again only once the
  // range has moved by 1/120 of itself (30 s for 1 h, 3 min for 6 h), which spares the store a
  // scan of raw flows every 5 seconds for an answer that could not visibly change.
  const TOP_EVERY_MS = { '15m': 7500, '1h': 30000, '6h': 180000, '24h': 720000 }[since];
  let topsAt = -Infinity;
  const state = { b: null, p: null, open: null, exps: null, errors: new Map() };
  const showErrors = () => replace(el.error, state.errors.size ? errorBox([...state.errors.values()][0]) : null);
  // complete is the index of the last complete bucket: the last one is still filling. A roll-up
  // tier holds a bucket only once the store has summed it, and after a burst of ingest (a backlog
  // replayed) that can lag a few buckets: the newest complete bucket that has data, up to three
  // buckets back, is taken, and the figure says which interval it is. Older than that, an empty
  // bucket is shown as it is.
  const complete = (s) => {
    const n = s ? s.t.length : 0;
    const sum = (i) => s.series.reduce((a, x) => a + (x.values[i] || 0), 0);
    if (n < 2) return n - 1;
    for (let i = n - 2; i >= Math.max(0, n - 5); i--) if (sum(i) > 0) return i;
    return n - 2;
  };
  const figure = (title, s, fmt, id) => {
    const i = complete(s);
    if (!s || i < 0) return kpi(title, fmt(s ? 0 : null), { id, sub: s ? 'no data' : 'unavailable' });
    const at = (k) => new Date(s.t[k] * 1000);
    const v = s.series.reduce((a, x) => a + (x.values[i] || 0), 0);
    return kpi(title, fmt(v), {
      id,
      dataset: { value: String(v), at: String(s.t[i]) }, // checked against the API by the browser test
      sub: i + 1 < s.t.length ? h('span', {}, 'average ', time(at(i), { short: true }), '–', time(at(i + 1), { short: true })) : h('span', {}, 'since ', time(at(i), { short: true })),
    });
  };
  const drawKpis = () => {
    const { b, p, open, exps } = state;
    replace(el.kpis,
      figure('Traffic', b, bps, 'kpi-bps'),
      figure('Packets', p, pps, 'kpi-pps'),
      kpi('Open alerts', open ? int(open.length) : '–', { id: 'kpi-alerts', sub: !open ? 'unavailable' : open.length ? `highest threat ${open[0].threat_level ?? 0}` : 'all quiet' }),
      kpi('Exporters', exps ? int(exps.length) : '–', { id: 'kpi-exporters', sub: 'sending flows' }));
  };
  const drawAlerts = (alerts) => {
    const open = state.open;
    replace(el.alerts, !open ? errorBox(alerts) : table([
      { title: 'threat', cell: (a) => threat(a.threat_level) },
      { title: 'victim', cls: 'mono', cell: (a) => victim(a) },
      { title: 'vector', cell: (a) => a.vector || '–' },
      { title: 'direction', cell: (a) => a.direction || '–' },
      { title: 'peak', num: true, cell: (a) => (a.kind === 'cnc' ? h('span', { class: 'muted', title: 'a C&C alert has no traffic peak' }, '–') : h('span', {}, bps(a.peak_bps), h('br'), h('span', { class: 'muted' }, pps(a.peak_pps)))) },
      { title: 'started', cell: (a) => time(a.started_at) },
      { title: 'duration', num: true, cell: (a) => duration(elapsed(a)) },
    ], open.slice(0, 10), { href: (a) => `/alerts/${encodeURIComponent(a.id)}`, empty: 'No open alert.', id: 'open-alerts-table' }),
    open && open.length > 10 ? h('p', { class: 'more' }, h('a', { href: '/alerts?state=ongoing' }, `All ${open.length} open alerts →`)) : null);
  };

  return {
    title: 'Overview',
    // Each panel is drawn as soon as its own answer arrives, and a store that does not answer
    // leaves the alerts and the exporters on screen, and the other way round. The main content
    // (traffic charts, the figures and the open alerts) comes from the cheap queries (roll-ups,
    // memory), asked first; shown() marks it drawn. The top-N tables, whose addresses only the
    // raw flows hold, are asked for then and fill in after.
    async load(signal, first, shown = () => {}) {
      // Each task: its request, then what to draw from the answer (or the error). The marks
      // (yocho:answer:NAME, yocho:drawn:NAME) show in the browser's performance panel.
      const task = (name, promise, draw) => promise.then(
        async (v) => {
          performance.mark(`yocho:answer:${name}`);
          state.errors.delete(name);
          await draw(v, null);
          performance.mark(`yocho:drawn:${name}`);
        },
        (err) => {
          if (err.name === 'AbortError') throw err;
          state.errors.set(name, err);
          draw(null, err);
        },
      ).finally(showErrors);
      const main = [
        task('bps', api.get('flows/series', { metric: 'bps', by: 'proto', since, bucket }, signal), (v) => {
          state.b = v ? api.series(v) : null;
          if (state.b) return charts.bps.set(state.b);
        }),
        task('pps', api.get('flows/series', { metric: 'pps', by: 'proto', since, bucket }, signal), (v) => {
          state.p = v ? api.series(v) : null;
          if (state.p) return charts.pps.set(state.p);
        }),
        task('alerts', api.get('alerts', { state: 'ongoing', view: 'summary' }, signal), (v, err) => {
          state.open = v ? api.alertList(v).slice().sort((a, b2) => (b2.threat_level || 0) - (a.threat_level || 0)) : null;
          drawAlerts(err);
        }),
        task('exporters', api.get('exporters', {}, signal), (v) => { state.exps = v ? api.exporterList(v) : null; }),
      ];
      const settled = await Promise.allSettled(main);
      drawKpis();
      const aborted = settled.find((r) => r.status === 'rejected');
      if (aborted) throw aborted.reason;
      shown();
      // Asked only now, so that their scans of raw flows do not delay the main content.
      const now = performance.now();
      const tops = first || now - topsAt >= TOP_EVERY_MS ? TOPS.map(([d]) => task(`top ${d}`,
        api.get('flows/top', { by: d, metric: 'bps', limit: 10, since }, signal),
        (v, err) => replace(el.tops[d], err ? errorBox(err) : topTable(api.top(v, d, 'bps'), [d], bps, { id: `top-${d}-table`, linkFor: explore })))) : [];
      if (tops.length) topsAt = now;
      const done = await Promise.allSettled(tops);
      const abortedTop = done.find((r) => r.status === 'rejected');
      if (abortedTop) throw abortedTop.reason;
      // Nothing answered: the status line says the update failed.
      if (['bps', 'pps', 'alerts', 'exporters'].every((n) => state.errors.has(n))) throw state.errors.get('bps');
    },
    failed(err) { replace(el.error, errorBox(err)); },
    destroy() { charts.bps.destroy(); charts.pps.destroy(); },
  };
}
