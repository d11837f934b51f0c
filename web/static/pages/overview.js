// Overview: the network at a glance. Traffic in bps and pps stacked by protocol, the top
// destinations, sources, AS numbers and exporters, and the open alerts, highest threat first.

import { h, bps, pps, int, time, duration, parseTime } from '../format.js';
import { panel, topTable, table, threat, kpi, replace, errorBox } from '../ui.js';
import { StackedChart } from '../chart.js';

const RANGES = ['15m', '1h', '6h', '24h'];
const TOPS = [
  ['dst_addr', 'Top destinations'],
  ['src_addr', 'Top sources'],
  ['src_as', 'Top source AS numbers'],
  ['exporter', 'Top exporters'],
];

export default function overview(root, { query, api }) {
  const since = RANGES.includes(query.get('since')) ? query.get('since') : '6h';
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

  return {
    title: 'Overview',
    // Each panel draws what its own answer gave: a store that does not answer leaves the alerts
    // and the exporters on screen, and the other way round.
    async load(signal) {
      const settled = await Promise.allSettled([
        api.get('flows/series', { metric: 'bps', by: 'proto', since }, signal),
        api.get('flows/series', { metric: 'pps', by: 'proto', since }, signal),
        api.get('alerts', { state: 'ongoing' }, signal),
        api.get('exporters', {}, signal),
        ...TOPS.map(([d]) => api.get('flows/top', { by: d, metric: 'bps', limit: 10, since }, signal)),
      ]);
      const aborted = settled.find((r) => r.status === 'rejected' && r.reason.name === 'AbortError');
      if (aborted) throw aborted.reason;
      const failed = settled.filter((r) => r.status === 'rejected').map((r) => r.reason);
      if (failed.length === settled.length) throw failed[0];
      const [sb, sp, alerts, exporters, ...tops] = settled.map((r) => (r.status === 'fulfilled' ? r.value : r.reason));
      const bad = (v) => v instanceof Error;
      replace(el.error, failed.length ? errorBox(failed[0]) : null);
      const b = bad(sb) ? null : api.series(sb);
      const p = bad(sp) ? null : api.series(sp);
      if (b) charts.bps.set(b);
      if (p) charts.pps.set(p);
      const last = (s) => {
        if (!s) return null;
        // The last bucket is still filling: show the one before it.
        const i = s.t.length >= 2 ? s.t.length - 2 : s.t.length - 1;
        return i < 0 ? 0 : s.series.reduce((a, x) => a + (x.values[i] || 0), 0);
      };
      const open = bad(alerts) ? null : api.alertList(alerts).slice().sort((a, b2) => (b2.threat_level || 0) - (a.threat_level || 0));
      const exps = bad(exporters) ? null : api.exporterList(exporters);
      replace(el.kpis,
        kpi('Traffic', bps(last(b)), { id: 'kpi-bps', sub: 'last complete interval' }),
        kpi('Packets', pps(last(p)), { id: 'kpi-pps', sub: 'last complete interval' }),
        kpi('Open alerts', open ? int(open.length) : '–', { id: 'kpi-alerts', sub: !open ? 'unavailable' : open.length ? `highest threat ${open[0].threat_level ?? 0}` : 'all quiet' }),
        kpi('Exporters', exps ? int(exps.length) : '–', { id: 'kpi-exporters', sub: 'sending flows' }));
      replace(el.alerts, !open ? errorBox(alerts) : table([
        { title: 'threat', cell: (a) => threat(a.threat_level) },
        { title: 'victim', cls: 'mono', cell: (a) => victim(a) },
        { title: 'vector', cell: (a) => a.vector || '–' },
        { title: 'direction', cell: (a) => a.direction || '–' },
        { title: 'peak', num: true, cell: (a) => h('span', {}, bps(a.peak_bps), h('br'), h('span', { class: 'muted' }, pps(a.peak_pps))) },
        { title: 'started', cell: (a) => time(a.started_at) },
        { title: 'duration', num: true, cell: (a) => duration(elapsed(a)) },
      ], open.slice(0, 10), { href: (a) => `/alerts/${encodeURIComponent(a.id)}`, empty: 'No open alert.', id: 'open-alerts-table' }),
      open && open.length > 10 ? h('p', { class: 'more' }, h('a', { href: '/alerts?state=ongoing' }, `All ${open.length} open alerts →`)) : null);
      TOPS.forEach(([d], i) => replace(el.tops[d], bad(tops[i]) ? errorBox(tops[i]) : topTable(api.top(tops[i], d, 'bps'), [d], bps, { id: `top-${d}-table`, linkFor: explore })));
    },
    failed(err) { replace(el.error, errorBox(err)); },
    destroy() { charts.bps.destroy(); charts.pps.destroy(); },
  };
}

export function victim(a) {
  const v = a.victims || [];
  if (a.prefix && (v.length !== 1)) return `${a.prefix}${v.length ? ` (${v.length} hosts)` : ''}`;
  if (!v.length) return a.prefix || '–';
  return v.length > 1 ? `${v[0]} +${v.length - 1}` : String(v[0]);
}

export function elapsed(a) {
  const s = parseTime(a.started_at);
  if (!s) return null;
  const e = parseTime(a.ended_at) || (a.state === 'ongoing' ? new Date() : parseTime(a.updated_at)) || new Date();
  return (e - s) / 1000;
}

