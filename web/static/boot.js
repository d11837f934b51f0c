// The first requests of the page being opened, started while the console's modules load: the
// server inlines this script in index.html (web.go), so the API answers are on their way before
// any module is fetched, parsed or run, and a page's first render waits for the slower of the
// two, not for their sum. api.js takes each answer once, when the page asks for the same URL
// (the same parameters, in the same order, as the page's own call builds it); an answer no page
// asks for is dropped. The browser test fails when a timed load asks the API twice for one URL,
// or asks its first question only after the modules ran.
//
// A classic script with no imports, kept small: it runs before the first paint.
(() => {
  const q = new URLSearchParams(location.search);
  const path = location.pathname.replace(/(.)\/+$/, '$1');
  // url builds /api/v1/<path>?<params> as api.js's url() does: empty values left out, in order.
  const url = (p, params = {}) => {
    const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null && v !== '')).toString();
    return `/api/v1/${p}${s ? '?' + s : ''}`;
  };
  const urls = [];
  let chart = false; // the page draws a chart: run the charting library now too
  let modules = []; // the page's modules beyond those index.html preloads, relative to app.js
  let m;
  if (path === '/') { // pages/overview.js
    chart = true;
    modules = ['pages/overview.js'];
    const since = ['15m', '1h', '6h', '24h'].includes(q.get('since')) ? q.get('since') : '6h';
    const bucket = { '15m': '10s', '1h': '1m', '6h': '5m', '24h': '15m' }[since];
    urls.push(url('flows/series', { metric: 'bps', by: 'proto', since, bucket }), url('flows/series', { metric: 'pps', by: 'proto', since, bucket }),
      url('alerts', { state: 'ongoing', view: 'summary' }), url('exporters'));
  } else if (path === '/explore') { // pages/explore.js, readQuery (an invalid field there: asked again)
    chart = true;
    modules = ['pages/explore.js', 'filter.js'];
    const by = (q.get('by') || 'proto').split(',').map((s) => s.trim()).filter(Boolean).slice(0, 4).join(',') || 'proto';
    const metric = ['bps', 'pps', 'bytes', 'packets', 'flows'].includes(q.get('metric')) ? q.get('metric') : 'bps';
    const limit = ['5', '10', '20', '50'].includes(q.get('limit')) ? q.get('limit') : '10';
    const params = { metric, by, since: q.get('since') || '1h', filter: q.get('filter') || '' };
    urls.push(url('flows/series', { ...params, limit: Math.min(Number(limit), 10) }), url('flows/top', { ...params, limit }));
  } else if (path === '/alerts') { // pages/alerts.js
    modules = ['pages/alerts.js'];
    urls.push(url('alerts', { state: q.get('state') || '', kind: q.get('kind') || '', since: q.has('since') ? q.get('since') : '24h', view: 'summary' }));
  } else if ((m = /^\/alerts\/([^/]+)$/.exec(path))) { // pages/alert.js
    chart = true;
    modules = ['pages/alert.js'];
    urls.push(url(`alerts/${encodeURIComponent(decodeURIComponent(m[1]))}`));
  } else if (path === '/exporters') { // pages/exporters.js
    modules = ['pages/exporters.js'];
    urls.push(url('exporters'), url('health'));
  }
  const token = sessionStorage.getItem('yocho.token') || '';
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const pending = new Map();
  for (const u of urls) {
    pending.set(u, fetch(u, { headers }).then(async (res) => ({ status: res.status, ok: res.ok, text: await res.text() })));
    pending.get(u).catch(() => {}); // a failed prefetch is asked again by the page
  }
  // The page's own modules, which app.js imports once it runs: fetched and compiled meanwhile.
  const app = document.getElementById('app-module');
  for (const mod of app ? modules : []) {
    const l = document.createElement('link');
    l.rel = 'modulepreload';
    l.href = new URL(mod, app.href).pathname;
    document.head.append(l);
  }
  // uPlot (preloaded by index.html, under /v/VERSION/) runs as soon as it is loaded, while the
  // modules load, instead of when the page makes its first chart; chart.js waits on this.
  let uplot;
  const pre = document.getElementById('uplot-preload');
  if (chart && pre) {
    uplot = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = pre.href;
      s.onload = resolve;
      s.onerror = reject;
      document.head.append(s);
    });
    uplot.catch(() => {}); // chart.js asks again
  }
  window.yochoFirst = {
    uplot,
    // take gives the answer started for url with token, once; undefined when there is none.
    take(u, t) {
      const p = pending.get(u);
      if (!p || t !== token) return undefined;
      pending.delete(u);
      return p;
    },
  };
})();
