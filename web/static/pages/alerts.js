// Alerts: every alert, newest first, with filters on state, kind, vector and time; a row opens the
// alert's page.

import { h, bps, pps, time, duration, victim, elapsed } from '../format.js';
import { panel, table, threat, stateBadge, replace, errorBox } from '../ui.js';

const STATES = [['', 'any state'], ['ongoing', 'ongoing'], ['ended', 'ended']];
const KINDS = [['', 'any kind'], ['ddos', 'ddos']];
const SINCE = [['24h', 'last 24h'], ['1h', 'last hour'], ['168h', 'last 7 days'], ['720h', 'last 30 days'], ['', 'all']];

export default function alerts(root, { query, api }) {
  const st = {
    state: query.get('state') || '',
    kind: query.get('kind') || '',
    since: query.has('since') ? query.get('since') : '24h',
    q: query.get('q') || '',
  };
  const body = h('div', { id: 'alerts-list' });
  const count = h('p', { class: 'panel-sub', id: 'alerts-count' });
  const errEl = h('div');
  let last = [];

  const sync = () => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(st)) if (v && !(k === 'since' && v === '24h')) q.set(k, v);
    if (!query.has('since') && st.since === '24h') q.delete('since');
    history.replaceState(null, '', `/alerts${q.toString() ? '?' + q : ''}`);
  };
  const select = (id, label, opts, key, reload = true) => h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', {
      id, onchange: (ev) => { st[key] = ev.target.value; sync(); if (reload) page.load(); else draw(); },
    }, opts.map(([v, t]) => h('option', { value: v, selected: v === st[key] }, t))));
  const search = h('input', { id: 'alerts-search', type: 'search', value: st.q, placeholder: 'victim, vector, customer…', oninput: () => { st.q = search.value.trim(); sync(); draw(); } });

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Alerts')),
    h('form', { class: 'panel query row', 'aria-label': 'Alert filters', onsubmit: (ev) => ev.preventDefault() },
      select('alerts-state', 'State', STATES, 'state'),
      select('alerts-kind', 'Kind', KINDS, 'kind'),
      select('alerts-since', 'Started', SINCE, 'since'),
      h('div', { class: 'field grow' }, h('label', { for: 'alerts-search' }, 'Search'), search)),
    errEl,
    panel('', count, body));

  const match = (a) => {
    if (!st.q) return true;
    const hay = [a.id, a.vector, a.kind, a.direction, a.customer, a.hostgroup, a.prefix, ...(a.victims || [])].join(' ').toLowerCase();
    return st.q.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
  };
  const draw = () => {
    const rows = last.filter(match);
    const ongoing = rows.filter((a) => a.state === 'ongoing').length;
    count.textContent = `${rows.length} alert${rows.length === 1 ? '' : 's'}, ${ongoing} ongoing`;
    replace(body, table([
      { title: 'state', cell: (a) => stateBadge(a.state) },
      { title: 'threat', cell: (a) => threat(a.threat_level) },
      { title: 'kind', cell: (a) => a.kind || '–' },
      { title: 'victim', cls: 'mono', cell: (a) => victim(a) },
      { title: 'vector', cell: (a) => a.vector || '–' },
      { title: 'direction', cell: (a) => a.direction || '–' },
      { title: 'peak', num: true, cell: (a) => (a.kind === 'cnc' ? h('span', { class: 'muted', title: 'a C&C alert has no traffic peak' }, '–') : h('span', {}, bps(a.peak_bps), h('br'), h('span', { class: 'muted' }, pps(a.peak_pps)))) },
      { title: 'start', cell: (a) => time(a.started_at) },
      { title: 'duration', num: true, cell: (a) => duration(elapsed(a)) },
    ], rows, { href: (a) => `/alerts/${encodeURIComponent(a.id)}`, id: 'alerts-table', empty: 'No alert matches these filters.' }));
  };

  const page = {
    title: 'Alerts',
    async load(signal) {
      const data = await api.get('alerts', { state: st.state, kind: st.kind, since: st.since, view: 'summary' }, signal);
      replace(errEl);
      last = api.alertList(data).slice().sort((a, b) => {
        if ((a.state === 'ongoing') !== (b.state === 'ongoing')) return a.state === 'ongoing' ? -1 : 1;
        return String(b.started_at).localeCompare(String(a.started_at));
      });
      draw();
    },
    failed(err) { replace(errEl, errorBox(err)); },
  };
  return page;
}
