// Exporters: every router sending flows, with its rate (computed between two refreshes), the
// sampling rates it announced and the ones applied, its templates, its decoding errors and the
// export loss estimated from sequence numbers.

import { h, bps, si, int, pct, time, ago } from '../format.js';
import { panel, table, replace, errorBox, kpi } from '../ui.js';

// pick reads the first of several spellings of a field.
const pick = (o, ...ks) => { for (const k of ks) if (o[k] != null) return o[k]; return undefined; };
const sum = (m) => (m && typeof m === 'object' ? Object.values(m).reduce((a, b) => a + Number(b || 0), 0) : Number(m || 0));

export function normalise(e) {
  return {
    address: pick(e, 'address', 'exporter') || '?',
    packets: Number(pick(e, 'packets') || 0),
    flows: Number(pick(e, 'flows') || 0),
    bytes: Number(pick(e, 'bytes') || 0),
    fps: pick(e, 'flows_per_second', 'flows_rate', 'fps'),
    bps: pick(e, 'bps', 'bits_per_second'),
    errors: pick(e, 'errors') || {},
    rates: pick(e, 'sampling_rates') || [],
    announced: pick(e, 'announced_sampling_rates') || [],
    unknownSampling: Number(pick(e, 'unknown_sampling_flows', 'unknown_sampling') || 0),
    lost: Number(pick(e, 'sequence_lost') || 0),
    templates: pick(e, 'templates'),
    pending: Number(pick(e, 'pending_flows', 'pending') || 0),
    pendingLost: Number(pick(e, 'pending_lost') || 0),
    versions: pick(e, 'versions') || Object.keys(pick(e, 'packets_by_version') || {}),
    lastSeen: pick(e, 'last_seen'),
  };
}

export default function exporters(root, { api }) {
  const body = h('div', { id: 'exporters-list' });
  const kpis = h('div', { class: 'kpis' });
  const errEl = h('div');
  const prev = new Map(); // address → {at, flows, bytes}: the rate is the difference
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Exporters')),
    errEl, kpis,
    panel('Exporters', h('p', { class: 'panel-sub' }, 'Rates are measured between two refreshes, scaled by the sampling rate; loss is estimated from the export sequence numbers.'), body));

  return {
    title: 'Exporters',
    async load(signal) {
      const [data, health] = await Promise.all([
        api.get('exporters', {}, signal),
        api.get('health', {}, signal).catch(() => null),
      ]);
      replace(errEl);
      const now = Date.now();
      const list = api.exporterList(data).map(normalise);
      for (const e of list) {
        const p = prev.get(e.address);
        if (e.fps == null && p && now > p.at) e.fps = (e.flows - p.flows) / ((now - p.at) / 1000);
        if (e.bps == null && p && now > p.at) e.bps = (e.bytes - p.bytes) * 8 / ((now - p.at) / 1000);
        if (!p || now - p.at > 3000) prev.set(e.address, { at: now, flows: e.flows, bytes: e.bytes });
      }
      const totalErr = list.reduce((a, e) => a + sum(e.errors), 0);
      const totalLost = list.reduce((a, e) => a + e.lost, 0);
      const totalFlows = list.reduce((a, e) => a + e.flows, 0);
      const rate = list.every((e) => e.fps == null) ? null : list.reduce((a, e) => a + (e.fps || 0), 0);
      replace(kpis,
        kpi('Exporters', int(list.length), { id: 'kpi-exporter-count' }),
        kpi('Flows received', si(totalFlows), { sub: rate == null ? 'rate after the next refresh' : `${si(rate, 'flows/s')}` }),
        kpi('Decoding errors', int(totalErr), { sub: 'datagrams rejected' }),
        kpi('Estimated loss', totalFlows + totalLost ? pct(totalLost / (totalFlows + totalLost), 2) : '–', { sub: `${int(totalLost)} records missing` }),
        health ? kpi('Health', String(health.status || (health.ok === false ? 'degraded' : 'ok')), { id: 'kpi-health', sub: healthSub(health) }) : null);
      replace(body, table([
        { title: 'exporter', cls: 'mono', head: true, cell: (e) => e.address },
        { title: 'protocols', cell: (e) => (e.versions.length ? e.versions.join(', ') : '–') },
        { title: 'flows/s', num: true, cell: (e) => (e.fps == null ? '…' : si(e.fps)) },
        { title: 'traffic', num: true, cell: (e) => (e.bps == null ? '…' : bps(e.bps)) },
        { title: 'flows', num: true, cell: (e) => h('span', { 'data-value': String(e.flows) }, int(e.flows)) },
        { title: 'sampling', cell: (e) => samplingCell(e) },
        { title: 'templates', num: true, cell: (e) => (e.templates == null ? '–' : h('span', {}, int(e.templates), e.pending ? h('span', { class: 'muted', title: 'records waiting for their template' }, ` (${int(e.pending)} pending)`) : '')) },
        { title: 'errors', num: true, cell: (e) => errorsCell(e) },
        { title: 'est. loss', num: true, cell: (e) => lossCell(e) },
        { title: 'last seen', cell: (e) => h('span', { title: ago(e.lastSeen) }, time(e.lastSeen)) },
      ], list, { id: 'exporters-table', empty: 'No exporter has sent flows yet. Point NetFlow/IPFIX at UDP 2055 or 4739, sFlow at 6343.' }));
    },
    failed(err) { replace(errEl, errorBox(err)); },
  };
}

function samplingCell(e) {
  const r = e.rates.length ? e.rates.map((x) => `1:${x}`).join(', ') : '–';
  const ann = e.announced.length ? e.announced.map((x) => `1:${x}`).join(', ') : 'none';
  const warn = !e.announced.length && e.unknownSampling > 0;
  return h('span', { title: `announced: ${ann}` }, r, warn ? h('span', { class: 'warn', title: `${int(e.unknownSampling)} flows had no announced rate and got the default` }, ' ⚠ default') : '');
}

function errorsCell(e) {
  const n = sum(e.errors);
  if (!n) return h('span', { class: 'muted' }, '0');
  const detail = Object.entries(e.errors).map(([k, v]) => `${k}: ${v}`).join('\n');
  return h('span', { class: 'bad', title: detail }, int(n));
}

function lossCell(e) {
  const lost = e.lost + e.pendingLost;
  const all = e.flows + lost;
  if (!lost) return h('span', { class: 'muted' }, '0 %');
  return h('span', { class: lost / all > 0.01 ? 'bad' : 'warn', title: `${int(e.lost)} lost by sequence numbers, ${int(e.pendingLost)} dropped without template` }, pct(lost / all, 2));
}

function healthSub(hl) {
  if (hl.components && typeof hl.components === 'object') {
    const bad = Object.entries(hl.components).filter(([, v]) => v && (v.ok === false || (v.status && v.status !== 'ok'))).map(([k]) => k);
    return bad.length ? `check: ${bad.join(', ')}` : 'all components up';
  }
  return hl.version ? `yocho ${hl.version}` : '';
}
