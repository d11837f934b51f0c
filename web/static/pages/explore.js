// Explore: any question on the stored flows. A filter, dimensions to group by and a metric give a
// stacked time series and a top-N table; the whole query lives in the URL, to be shared.

import { h, metricFormatter } from '../format.js';
import { panel, topTable, replace, errorBox } from '../ui.js';
import { StackedChart } from '../chart.js';
import { FilterBox, GROUPABLE } from '../filter.js';

const METRICS = [['bps', 'bits/s'], ['pps', 'packets/s'], ['bytes', 'bytes'], ['packets', 'packets'], ['flows', 'flows']];
const RANGES = ['15m', '1h', '6h', '24h', '7d', '30d'];
const LIMITS = ['5', '10', '20', '50'];

export function readQuery(q) {
  const by = (q.get('by') || 'proto').split(',').map((s) => s.trim()).filter((s) => GROUPABLE.includes(s)).slice(0, 4);
  return {
    filter: q.get('filter') || '',
    by: by.length ? by : ['proto'],
    metric: METRICS.some(([m]) => m === q.get('metric')) ? q.get('metric') : 'bps',
    since: q.get('since') || '1h',
    limit: LIMITS.includes(q.get('limit')) ? q.get('limit') : '10',
  };
}

export default function explore(root, { query, api }) {
  const st = readQuery(query);
  const valueCache = new Map();
  const values = (field) => {
    const key = `${field}|${st.since}`;
    if (!valueCache.has(key)) {
      valueCache.set(key, api.get('flows/top', { by: field, metric: 'flows', limit: 10, since: st.since })
        .then((d) => api.top(d, field, 'flows').rows.map((r) => r.keys[0]).filter((v) => v !== '' && v !== '-'))
        .catch(() => []));
    }
    return valueCache.get(key);
  };
  const run = () => {
    st.filter = box.value;
    const q = new URLSearchParams({ metric: st.metric, by: st.by.join(','), since: st.since, limit: st.limit });
    if (st.filter) q.set('filter', st.filter);
    const path = `/explore?${q}`;
    if (path !== location.pathname + location.search) history.pushState(null, '', path);
    share.value = location.href;
    reload();
  };
  const box = new FilterBox({ value: st.filter, values, onSubmit: run });

  const select = (id, label, options, value, onchange) => h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, onchange: (ev) => { onchange(ev.target.value); run(); } },
      options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));

  const dimsEl = h('div', { class: 'chips', id: 'dims', role: 'group', 'aria-label': 'Group by' });
  const addDim = h('select', { id: 'add-dim', 'aria-label': 'Add a dimension' });
  const drawDims = () => {
    replace(dimsEl, st.by.map((d) => h('span', { class: 'chip' }, d,
      st.by.length > 1 ? h('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove ${d}`, onclick: () => { st.by = st.by.filter((x) => x !== d); drawDims(); run(); } }, '×') : null)));
    replace(addDim, h('option', { value: '' }, st.by.length >= 4 ? 'at most 4' : '+ add'),
      GROUPABLE.filter((f) => !st.by.includes(f)).map((f) => h('option', { value: f }, f)));
    addDim.disabled = st.by.length >= 4;
  };
  addDim.addEventListener('change', () => {
    if (addDim.value) { st.by.push(addDim.value); drawDims(); run(); }
  });
  drawDims();

  const share = h('input', { id: 'share-url', type: 'text', readonly: true, value: location.href, 'aria-label': 'Shareable URL of this query' });
  const copy = h('button', {
    type: 'button', onclick: async () => {
      share.select();
      try { await navigator.clipboard.writeText(share.value); copy.textContent = 'Copied'; } catch { copy.textContent = 'Press Ctrl+C'; }
      setTimeout(() => { copy.textContent = 'Copy link'; }, 1500);
    },
  }, 'Copy link');

  const chartEl = h('div', { class: 'chart', id: 'explore-chart' });
  const topEl = h('div', { id: 'explore-top' });
  const info = h('p', { class: 'panel-sub', id: 'explore-info' });
  const errEl = h('div');
  const chart = new StackedChart(chartEl, { height: 320, label: st.metric });

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Explore')),
    h('form', { class: 'panel query', onsubmit: (ev) => { ev.preventDefault(); run(); }, 'aria-label': 'Query' },
      box.el,
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('span', { class: 'label', id: 'dims-label' }, 'Group by'), h('div', { class: 'dims' }, dimsEl, addDim)),
        select('metric', 'Metric', METRICS, st.metric, (v) => { st.metric = v; }),
        select('since', 'Range', RANGES.map((r) => [r, `last ${r}`]), st.since, (v) => { st.since = v; }),
        select('limit', 'Top', LIMITS.map((l) => [l, l]), st.limit, (v) => { st.limit = v; }),
        h('div', { class: 'field' }, h('span', { class: 'label' }, '\u00a0'), h('button', { type: 'submit', class: 'primary', id: 'run' }, 'Run query'))),
      h('div', { class: 'share' }, share, copy)),
    errEl,
    panel('Over time', info, chartEl),
    panel('Top', topEl),
  );

  let pending = null;
  const reload = () => { pending = load(new AbortController().signal, true).catch((e) => failed(e)); };
  const failed = (err) => {
    if (err.status === 400 && /filter/i.test(err.message)) {
      box.showError(err.message, err.position);
      replace(errEl);
    } else replace(errEl, errorBox(err));
  };
  // Only the latest load draws: a refresh that started before the query changed must not
  // overwrite (or clear the error of) the new one.
  let loads = 0;
  async function load(signal) {
    const mine = ++loads;
    const fmt = metricFormatter(st.metric);
    const params = { metric: st.metric, by: st.by.join(','), since: st.since, filter: st.filter };
    let s, t;
    try {
      [s, t] = await Promise.all([
        api.get('flows/series', { ...params, limit: Math.min(Number(st.limit), 10) }, signal),
        api.get('flows/top', { ...params, limit: st.limit }, signal),
      ]);
    } catch (err) {
      if (mine !== loads) return;
      throw err;
    }
    if (mine !== loads) return;
    box.clearError();
    replace(errEl);
    chart.fmt = fmt;
    const drawn = chart.set(api.series(s));
    const tier = s && s.tier ? ` · ${s.tier} tier` : '';
    const bucket = s && s.bucket_seconds ? ` · ${s.bucket_seconds}s buckets` : '';
    info.textContent = `${st.metric} by ${st.by.join(', ')} over the last ${st.since}${bucket}${tier}`;
    replace(topEl, topTable(api.top(t, st.by, st.metric), st.by, fmt, { id: 'explore-top-table' }));
    await drawn;
  }

  return {
    title: 'Explore',
    load,
    failed,
    destroy() { chart.destroy(); },
    get pending() { return pending; },
  };
}
