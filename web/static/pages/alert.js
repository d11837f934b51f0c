// An alert's page: who is attacked and how (victims, vector, size), the timeline, the threat
// level's reasons, the evidence (thresholds crossed, sources, ports, AS numbers, exporters,
// interfaces, packet sizes, sample flows), and the mitigation with its confirm and withdraw buttons.

import { h, bps, pps, bytes, int, time, duration, pct, protoName, si, victim, elapsed } from '../format.js';
import { panel, table, threat, stateBadge, replace, errorBox, confirm, kpi } from '../ui.js';
import { StackedChart } from '../chart.js';

export default function alertPage(root, { params, api }) {
  const id = params[0];
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Alert ', h('span', { class: 'mono' }, id)));
  const errEl = h('div');
  const summary = h('div', { class: 'kpis', id: 'alert-summary' });
  const facts = h('dl', { class: 'facts', id: 'alert-facts' });
  const reasons = h('div', { id: 'alert-reasons' });
  const mitigation = h('div', { id: 'alert-mitigation' });
  const chartBps = h('div', { class: 'chart', id: 'alert-chart-bps' });
  const chartPps = h('div', { class: 'chart', id: 'alert-chart-pps' });
  const crossed = h('div', { id: 'alert-crossed' });
  const sources = h('div', { id: 'alert-sources' });
  const tops = {
    source_ports: h('div'), destination_ports: h('div'), source_asns: h('div'), exporters: h('div'), interfaces: h('div'),
  };
  const sizes = h('div', { id: 'alert-sizes' });
  const samples = h('div', { id: 'alert-samples' });
  const timeline = h('div', { class: 'grid-2', id: 'alert-timeline' }, panel('Timeline (bps)', chartBps), panel('Timeline (pps)', chartPps));
  const sourcesTitle = h('span', {}, 'Top sources');
  const cb = new StackedChart(chartBps, { fmt: bps, height: 200, label: 'bps' });
  const cp = new StackedChart(chartPps, { fmt: pps, height: 200, label: 'pps' });

  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '/alerts' }, '← Alerts')),
    head, errEl, summary,
    h('div', { class: 'grid-2 wide-left' },
      panel('Attack', facts),
      panel('Threat level', reasons)),
    panel('Mitigation', mitigation),
    timeline,
    h('div', { class: 'grid-2' }, panel(sourcesTitle, sources), panel('Thresholds crossed', crossed)),
    h('div', { class: 'grid-3' },
      panel('Source ports', tops.source_ports), panel('Destination ports', tops.destination_ports), panel('Source AS numbers', tops.source_asns),
      panel('Exporters', tops.exporters), panel('Interfaces', tops.interfaces), panel('Packet sizes', sizes)),
    panel('Sample flows', samples));

  let busy = false;
  const act = async (action, title, text, okLabel) => {
    if (busy || !(await confirm(title, text, okLabel))) return;
    busy = true;
    try {
      await api.post(`alerts/${encodeURIComponent(id)}/mitigation`, { action });
      await page.load();
    } catch (err) {
      replace(errEl, errorBox(err));
    } finally {
      busy = false;
    }
  };

  const shareCol = (fmtv) => [
    { title: 'value', cls: 'mono', cell: (t) => fmtv(t.value) },
    { title: 'packets', num: true, cell: (t) => si(t.packets) },
    { title: 'bytes', num: true, cell: (t) => bytes(t.bytes) },
    { title: 'share', num: true, cell: (t) => h('span', { class: 'share' }, h('span', { class: 'bar', style: { width: `${Math.max(1, Math.min(48, (t.share || 0) * 48)).toFixed(1)}px` } }), pct(t.share)) },
  ];

  const page = {
    title: `Alert ${id}`,
    async load(signal) {
      const a = await api.get(`alerts/${encodeURIComponent(id)}`, {}, signal);
      replace(errEl);
      document.title = `${a.vector || 'alert'} on ${victim(a)} · yocho`;
      replace(head, h('h1', {}, h('span', { id: 'alert-vector' }, a.vector || a.kind), ' on ', h('span', { class: 'mono', id: 'alert-victim' }, victim(a))),
        h('div', { class: 'head-badges' }, stateBadge(a.state), threat(a.threat_level)));
      // A C&C alert is about who talks to a server, not about a volume of traffic: no peak, no
      // timeline, and its sources are the infected subscribers.
      const cnc = a.kind === 'cnc';
      timeline.hidden = cnc;
      sourcesTitle.textContent = cnc ? 'Infected subscribers' : 'Top sources';
      if (cnc) {
        replace(summary,
          kpi('C&C server', h('span', { class: 'mono' }, cncServer(a)), { id: 'alert-cnc-server', sub: a.vector || 'cnc' }),
          kpi('Infected subscribers', int(a.distinct_sources ?? (a.victims || []).length), { sub: `${int((a.victims || []).length)} listed` }),
          kpi('First contact', time(a.attack_started_at || a.started_at), { sub: 'seen in the flows' }),
          kpi('Duration', duration(elapsed(a)), { sub: a.state === 'ongoing' ? 'and counting' : 'ended' }));
      } else replace(summary,
        kpi('Peak', bps(a.peak_bps), { sub: [pps(a.peak_pps), a.peak_at ? ' at ' : '', a.peak_at ? time(a.peak_at, { short: true }) : null], id: 'alert-peak' }),
        kpi('Now', a.state === 'ongoing' ? bps(a.current_bps) : 'ended', { sub: a.state === 'ongoing' ? pps(a.current_pps) : '' }),
        kpi('Distinct sources', int(a.distinct_sources), { sub: 'estimated' }),
        kpi('Duration', duration(elapsed(a)), { sub: a.state === 'ongoing' ? 'and counting' : 'ended' }));
      const victims = a.victims || [];
      const dd = (t, ...v) => [h('dt', {}, t), h('dd', {}, ...v)];
      replace(facts,
        dd('Victim', h('span', { class: 'mono', id: 'alert-victims' }, victims.length ? victims.join(', ') : '–')),
        a.prefix ? dd('Prefix (carpet bombing)', h('span', { class: 'mono' }, a.prefix)) : null,
        dd('Vector', h('strong', {}, a.vector || '–'), a.protocol ? ` · ${protoName(a.protocol)}` : '', a.source_port ? ` · source port ${a.source_port}` : ''),
        cnc ? dd('C&C server', h('span', { class: 'mono' }, cncServer(a))) : null,
        dd('Direction', a.direction || '–'),
        dd('Kind', a.kind || '–'),
        a.hostgroup || a.customer ? dd('Hostgroup', [a.hostgroup, a.customer && `customer ${a.customer}`, a.criticality && `criticality ${a.criticality}`].filter(Boolean).join(' · ')) : null,
        a.usual_bps ? dd('Usual traffic', `${bps(a.usual_bps)} · ${pps(a.usual_pps)}`) : null,
        dd('Started', time(a.started_at)),
        dd('Updated', time(a.updated_at)),
        dd('Ended', a.ended_at ? time(a.ended_at) : 'ongoing'));
      const rs = a.threat_reasons || [];
      replace(reasons,
        h('div', { class: 'threat-big' }, threat(a.threat_level), h('span', { class: 'muted' }, ' / 100')),
        rs.length ? h('ul', { class: 'reasons' }, rs.map((r) => h('li', {},
          h('span', { class: 'points' }, `+${r.points}`), h('strong', {}, r.factor), ' ', h('span', {}, r.detail)))) : h('p', { class: 'empty' }, 'No reason given.'));
      drawMitigation(a);
      const series = a.series || [];
      const t = series.map((p) => Date.parse(p.t) / 1000);
      const charts = [];
      charts.push(cb.set({ t, series: [{ name: 'attack', values: series.map((p) => p.bps) }] }),
        cp.set({ t, series: [{ name: 'attack', values: series.map((p) => p.pps) }] }));
      replace(sources, table(cnc ? shareCol((v) => v).slice(0, 1) : shareCol((v) => v), a.top_sources || [], { id: 'alert-sources-table', empty: 'No source recorded.' }));
      replace(crossed, table([
        { title: 'traffic', cell: (c) => c.kind },
        { title: 'metric', cell: (c) => c.metric },
        { title: 'peak', num: true, cell: (c) => si(c.value, unit(c.metric)) },
        { title: 'threshold', num: true, cell: (c) => si(c.threshold, unit(c.metric)) },
        { title: '×', num: true, cell: (c) => (c.threshold ? `${(c.value / c.threshold).toFixed(1)}×` : '–') },
      ], a.crossed || [], { empty: 'No threshold recorded.' }));
      const asn = (v) => (/^\d+$/.test(v) ? `AS${v}` : v);
      for (const [k, el] of Object.entries(tops)) replace(el, table(shareCol(k === 'source_asns' ? asn : (v) => v), a[k] || [], { empty: 'None recorded.' }));
      let lo = 0;
      replace(sizes, table([
        { title: 'avg. packet size', cell: (b) => { const s = `${lo}–${b.upto} B`; lo = b.upto + 1; return s; } },
        { title: 'share', num: true, cell: (b) => h('span', { class: 'share' }, h('span', { class: 'bar', style: { width: `${Math.max(1, Math.min(48, (b.share || 0) * 48)).toFixed(1)}px` } }), pct(b.share)) },
      ], a.packet_sizes || [], { empty: 'No profile.' }));
      replace(samples, table([
        { title: 'time', cell: (f) => time(f.time, { short: true }) },
        { title: 'exporter', cls: 'mono', cell: (f) => f.exporter },
        { title: 'source', cls: 'mono', cell: (f) => `${f.src}:${f.src_port}` },
        { title: 'destination', cls: 'mono', cell: (f) => `${f.dst}:${f.dst_port}` },
        { title: 'proto', cell: (f) => protoName(f.proto) },
        { title: 'flags', num: true, cell: (f) => (f.tcp_flags ? `0x${f.tcp_flags.toString(16).padStart(2, '0')}` : '') },
        { title: 'packets', num: true, cell: (f) => int(f.packets) },
        { title: 'bytes', num: true, cell: (f) => int(f.bytes) },
        { title: 'sampling', num: true, cell: (f) => (f.sampling_rate ? `1:${f.sampling_rate}` : '–') },
        { title: 'in if', num: true, cell: (f) => f.in_if },
      ], a.sample_flows || [], { id: 'alert-samples-table', empty: 'No sample flow kept.' }));
      await Promise.all(charts);
    },
    failed(err) { replace(errEl, errorBox(err)); },
    destroy() { cb.destroy(); cp.destroy(); },
  };

  let drawn = '';
  function drawMitigation(a) {
    // Redraw only on change, so that a refresh does not take the focus from the buttons.
    const key = JSON.stringify([a.state, a.mitigation]);
    if (key === drawn) return;
    drawn = key;
    const m = a.mitigation && typeof a.mitigation === 'object' ? a.mitigation : null;
    const status = m ? (m.state || 'recorded') : 'none';
    const routes = m && Array.isArray(m.routes) ? m.routes : [];
    const when = (label, t) => (t ? [h('span', { class: 'muted' }, ` · ${label} `), time(t)] : null);
    const kids = [h('p', { id: 'mitigation-status' }, 'Status: ', h('span', { class: `badge mit-${status}` }, status),
      m && m.mode ? h('span', { class: 'muted' }, ` · mode ${m.mode}`) : h('span', { class: 'muted' }, ' · no mitigation recorded for this alert'),
      m && m.by_operator ? h('span', { class: 'muted' }, ' · by an operator') : null,
      when('announced', m && m.announced_at), when('withdrawal at', m && !m.withdrawn_at && m.withdraw_at), when('withdrawn', m && m.withdrawn_at)),
    m && m.reason ? h('p', { class: 'muted' }, m.reason) : null];
    if (routes.length) {
      const match = (r) => [r.protocol ? protoName(r.protocol) : '', r.source_port ? `source port ${r.source_port}` : '', r.tcp_flags ? `tcp ${r.tcp_flags}` : '', r.fragment ? 'fragments' : ''].filter(Boolean).join(' · ') || 'all traffic';
      kids.push(table([
        { title: 'kind', cell: (r) => r.kind || '–' },
        { title: 'prefix', cls: 'mono', cell: (r) => r.prefix || '–' },
        { title: 'match', cell: match },
        { title: 'action', cell: (r) => (r.kind === 'rtbh' ? 'blackhole' : r.action === 'rate-limit' ? `rate-limit ${si(r.rate_limit, 'Bps')}` : (r.action || 'discard')) },
        { title: 'communities', cls: 'mono', cell: (r) => (r.communities || []).join(' ') },
        { title: 'next hop', cls: 'mono', cell: (r) => r.next_hop || '' },
      ], routes, { id: 'mitigation-routes' }));
    }
    const announced = status === 'announced';
    // refused: the server will not mitigate this alert (its kind, or the configuration); the
    // reason is shown above.
    const refused = status === 'refused';
    const canWithdraw = announced || status === 'dry-run' || status === 'awaiting-confirmation';
    kids.push(h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'primary', id: 'mitigation-confirm', disabled: announced || refused || a.state !== 'ongoing',
        onclick: () => act('confirm', 'Confirm the mitigation?', `yocho will announce the mitigation routes for ${victim(a)} (${a.vector}) to its BGP peers.`, 'Announce'),
      }, 'Confirm mitigation'),
      h('button', {
        type: 'button', class: 'danger', id: 'mitigation-withdraw', disabled: !canWithdraw,
        onclick: () => act('withdraw', 'Withdraw the mitigation?', `yocho will withdraw every route it announced for ${victim(a)}.`, 'Withdraw'),
      }, 'Withdraw')));
    replace(mitigation, kids);
  }

  return page;
}

// unit is how a crossed threshold's metric is written: rates per second, scores and points bare.
function unit(metric) {
  if (metric === 'bps' || metric === 'pps') return metric;
  if (metric === 'score' || metric === 'points') return '';
  return '/s';
}

// cncServer is the server a C&C alert is about: its key is "cnc:ADDRESS:PORT/PROTO".
function cncServer(a) {
  if (typeof a.key === 'string' && a.key.startsWith('cnc:')) return a.key.slice(4);
  return (a.destination_ports && a.destination_ports[0] && a.destination_ports[0].value) || '–';
}
