// The API client: every request of the console goes through get/post here. It sends the bearer
// token kept in sessionStorage, asks for one when the server answers 401, and turns error answers
// ({"error": "..."}) into ApiError. The normalisers give the pages one shape for top-N and series
// answers.

const TOKEN_KEY = 'yocho.token';

export class ApiError extends Error {
  constructor(status, body, url) {
    super((body && (body.error || body.message)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.url = url;
  }
  // position is where in the filter the server found the error (0-based), when it says: a
  // position field, or "column N" (1-based) in the message.
  get position() {
    const b = this.body;
    for (const k of ['position', 'pos', 'offset']) {
      if (Number.isFinite(b[k])) return b[k];
    }
    if (Number.isFinite(b.column)) return b.column - 1;
    const m = /\bcolumn\s+(\d+)/i.exec(this.message);
    if (m) return Number(m[1]) - 1;
    return null;
  }
}

let tokenPrompt = null; // the pending prompt, shared by every request that got a 401

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

// Escape does not dismiss the token dialog: the console can show nothing without the token.
document.getElementById('token-dialog')?.addEventListener('cancel', (ev) => ev.preventDefault());

function askToken(refused) {
  if (tokenPrompt) return tokenPrompt;
  const dlg = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  const err = document.getElementById('token-error');
  err.hidden = !refused;
  input.value = '';
  tokenPrompt = new Promise((resolve) => {
    const form = document.getElementById('token-form');
    const done = (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (!v) return;
      sessionStorage.setItem(TOKEN_KEY, v);
      form.removeEventListener('submit', done);
      dlg.close();
      tokenPrompt = null;
      resolve();
    };
    form.addEventListener('submit', done);
    if (!dlg.open) dlg.showModal();
    input.focus();
  });
  return tokenPrompt;
}

async function request(method, path, body, signal) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    // The answer boot.js already asked for (the page's first requests), or a new request.
    const first = method === 'GET' && attempt === 0 ? window.yochoFirst?.take(path, t) : undefined;
    const res = first ? await first.catch(() => null) : null;
    if (signal?.aborted) throw signal.reason;
    const { status, ok, text } = res || await fetch(path, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, ok: r.ok, text: await r.text() }));
    if (status === 401 && attempt < 5) {
      await askToken(t !== '');
      continue;
    }
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { error: text.trim() }; }
    }
    if (!ok) throw new ApiError(status, data, path);
    return data;
  }
}

// url builds /api/v1/<path>?<params>, leaving out empty parameters.
export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '') continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = q.toString();
  return `/api/v1/${path}${s ? '?' + s : ''}`;
}

export const get = (path, params, signal) => request('GET', url(path, params), undefined, signal);
export const post = (path, body, signal) => request('POST', url(path), body, signal);

// --- normalisers -------------------------------------------------------------------------------

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function firstArray(o, keys) {
  if (Array.isArray(o)) return o;
  if (!o || typeof o !== 'object') return [];
  for (const k of keys) if (Array.isArray(o[k])) return o[k];
  return [];
}

function keyString(v) {
  if (v == null) return '';
  if (typeof v === 'object') return Object.values(v).map(keyString).join(' ');
  return String(v);
}

// top gives {rows: [{keys: [...], value}], total, other} for a /flows/top answer.
export function top(data, by, metric) {
  const dims = Array.isArray(by) ? by : String(by).split(',').filter(Boolean);
  const rows = firstArray(data, ['rows', 'top', 'results', 'items', 'data']).map((r) => {
    let keys;
    if (Array.isArray(r.keys)) keys = r.keys.map(keyString);
    else if (Array.isArray(r.key)) keys = r.key.map(keyString);
    else if (r.key != null && typeof r.key === 'object') keys = dims.map((d) => keyString(r.key[d]));
    else if (r.key != null) keys = [keyString(r.key)];
    else if (r.dimensions || r.dims || r.group) {
      const g = r.dimensions || r.dims || r.group;
      keys = Array.isArray(g) ? g.map(keyString) : dims.map((d) => keyString(g[d]));
    } else keys = dims.map((d) => keyString(r[d]));
    let value = r.value;
    if (value == null) value = r[metric];
    if (value == null && r.values) value = r.values[metric];
    return { keys, value: num(value), raw: r };
  });
  const total = data && !Array.isArray(data) ? (data.total ?? data.sum ?? null) : null;
  const other = data && !Array.isArray(data) ? (data.other ?? null) : null;
  return { rows, total: total == null ? null : num(total), other: other == null ? null : num(typeof other === 'object' ? other.value : other) };
}

function seconds(t) {
  if (typeof t === 'number') return t > 1e11 ? t / 1000 : t;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms / 1000 : 0;
}

// seriesName names a stacked line: its key's values, "other" for the rest, "total" for no key.
function seriesName(s) {
  if (s.other) return 'other';
  const k = s.name ?? s.key ?? s.label ?? s.keys;
  if (k == null || (Array.isArray(k) && !k.length)) return 'total';
  return keyString(k);
}

// series gives {t: [unix seconds], series: [{name, values}]} for a /flows/series answer.
export function series(data) {
  if (!data) return { t: [], series: [] };
  let t = firstArray(data, ['times', 'timestamps', 't', 'time', 'buckets_at']);
  let list = firstArray(data, ['series', 'groups', 'lines']);
  if (list.length && !t.length) {
    // Each series carries its own points: [{t, v}] or [[t, v]].
    const pts = (s) => firstArray(s, ['points', 'data', 'values']);
    const all = new Set();
    for (const s of list) for (const p of pts(s)) all.add(seconds(Array.isArray(p) ? p[0] : (p.t ?? p.time ?? p.at)));
    t = [...all].sort((a, b) => a - b);
    const idx = new Map(t.map((x, i) => [x, i]));
    list = list.map((s) => {
      const values = new Array(t.length).fill(0);
      for (const p of pts(s)) {
        const at = seconds(Array.isArray(p) ? p[0] : (p.t ?? p.time ?? p.at));
        values[idx.get(at)] = num(Array.isArray(p) ? p[1] : (p.v ?? p.value));
      }
      return { name: seriesName(s), values };
    });
    return { t, series: list };
  }
  if (!list.length) {
    // Row per bucket: [{time, values: {name: v}}] or [{time, value}].
    const rows = firstArray(data, ['points', 'buckets', 'rows']);
    if (rows.length) {
      t = rows.map((r) => seconds(r.time ?? r.t ?? r.at ?? r.start));
      const names = new Set();
      for (const r of rows) if (r.values && typeof r.values === 'object') for (const k of Object.keys(r.values)) names.add(k);
      if (!names.size) return { t, series: [{ name: 'total', values: rows.map((r) => num(r.value ?? r.v)) }] };
      return { t, series: [...names].map((n) => ({ name: n, values: rows.map((r) => num(r.values[n])) })) };
    }
  }
  return {
    t: t.map(seconds),
    series: list.map((s) => ({
      name: seriesName(s),
      values: firstArray(s, ['values', 'data', 'points', 'v']).map(num),
    })),
  };
}

// alerts gives the list of alerts in an /alerts answer.
export const alertList = (data) => firstArray(data, ['alerts', 'items', 'results']);
// exporterList gives the list of exporters in an /exporters answer.
export const exporterList = (data) => firstArray(data, ['exporters', 'items', 'results']);
