// Formatting shared by every page: scaled units, times in the user's zone with UTC on hover,
// and a tiny DOM builder so that no page writes HTML from strings holding data.

const SI = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

// si scales n with k, M, G, T and appends unit: si(1.5e9, 'bps') is "1.50 Gbps".
export function si(n, unit = '') {
  if (n == null || !Number.isFinite(Number(n))) return '–';
  n = Number(n);
  const a = Math.abs(n);
  for (const [f, p] of SI) {
    if (a >= f) return `${trim(n / f)} ${p}${unit}`;
  }
  return `${trim(n)}${unit ? ' ' + unit : ''}`;
}

// bytes scales with binary-free SI prefixes too (network volumes are decimal): "1.20 GB".
export const bytes = (n) => si(n, 'B');
export const bps = (n) => si(n, 'bps');
export const pps = (n) => si(n, 'pps');

function trim(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (Number.isInteger(v)) return String(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// int writes an integer with the user's digit grouping.
export function int(n) {
  if (n == null || !Number.isFinite(Number(n))) return '–';
  return Math.round(Number(n)).toLocaleString();
}

export function pct(x, digits = 1) {
  if (x == null || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(digits)} %`;
}

// metricUnit is the formatter for one of the API's metrics.
export function metricFormatter(metric) {
  switch (metric) {
    case 'bps': return bps;
    case 'pps': return pps;
    case 'bytes': return bytes;
    case 'packets': return (n) => si(n, 'pkts');
    case 'flows': return (n) => si(n, 'flows');
    case 'fps': case 'flows_per_second': return (n) => si(n, 'flows/s');
    default: return (n) => si(n);
  }
}

const dtf = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const tf = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function parseTime(t) {
  if (t == null || t === '' || t === '0001-01-01T00:00:00Z') return null;
  const d = typeof t === 'number' ? new Date(t > 1e12 ? t : t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

// time is a <time> element: the local time as text, the UTC time on hover.
export function time(t, { short = false } = {}) {
  const d = parseTime(t);
  if (!d) return h('span', { class: 'muted' }, '–');
  const today = new Date().toDateString() === d.toDateString();
  return h('time', { datetime: d.toISOString(), title: d.toISOString().replace('.000Z', 'Z') + ' (UTC)' },
    short || today ? tf.format(d) : dtf.format(d));
}

// duration writes a number of seconds as "3h 04m", "12m 30s" or "45s".
export function duration(sec) {
  if (sec == null || !Number.isFinite(sec) || sec < 0) return '–';
  sec = Math.round(sec);
  const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600);
  const m = Math.floor(sec % 3600 / 60), s = sec % 60;
  if (d) return `${d}d ${String(hh).padStart(2, '0')}h`;
  if (hh) return `${hh}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export function ago(t) {
  const d = parseTime(t);
  if (!d) return '–';
  return duration((Date.now() - d.getTime()) / 1000) + ' ago';
}

// h builds an element: h('a', {href: '/x', class: 'c'}, 'text', child...). Strings become text
// nodes, never HTML; null and false children are skipped; arrays are flattened.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// protoName turns an IP protocol number into its name.
const PROTOS = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 41: 'ipv6', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'icmpv6', 89: 'ospf', 103: 'pim', 132: 'sctp' };
export function protoName(p) {
  if (typeof p === 'number' || /^\d+$/.test(String(p))) return PROTOS[Number(p)] || String(p);
  return String(p);
}

// label writes a dimension's value for people: protocols by name, AS numbers with "AS".
export function label(field, v) {
  if (v == null || v === '') return '(none)';
  if (field === 'proto') return protoName(v);
  if (/_as$/.test(field) && /^\d+$/.test(String(v))) return `AS${v}`;
  return String(v);
}

// victim names an alert's victim: its host, its first host and how many more, or its prefix.
export function victim(a) {
  const v = a.victims || [];
  if (a.prefix && (v.length !== 1)) return `${a.prefix}${v.length ? ` (${v.length} hosts)` : ''}`;
  if (!v.length) return a.prefix || '–';
  return v.length > 1 ? `${v[0]} +${v.length - 1}` : String(v[0]);
}

// elapsed is how long an alert has lasted, in seconds (until now while it is ongoing).
export function elapsed(a) {
  const s = parseTime(a.started_at);
  if (!s) return null;
  const e = parseTime(a.ended_at) || (a.state === 'ongoing' ? new Date() : parseTime(a.updated_at)) || new Date();
  return (e - s) / 1000;
}

