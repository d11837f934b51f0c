// Stacked time-series charts on uPlot (vendored, global uPlot). uPlot draws lines, not stacks: the
// chart draws the cumulative sums, largest first, each filled down to zero, so every band shows
// one series; the legend and the cursor show each series' own value, not the sum.
//
// uPlot never blocks the page's parsing (index.html only preloads it): on the pages with a chart,
// boot.js runs it as soon as it is loaded, while the modules load and the API answers; the
// others run it once they are drawn (app.js). set() resolves once the data is drawn.

import { si } from './format.js';

let uPlotReady = null;

// loadUPlot adds uPlot's script once (next to this module, so under the same /v/VERSION/) and
// resolves when the global uPlot is there.
export function loadUPlot() {
  if (window.uPlot) return Promise.resolve();
  if (!uPlotReady && window.yochoFirst?.uplot) { // started by boot.js
    uPlotReady = window.yochoFirst.uplot.then(() => performance.mark('yocho:uplot'), () => {
      uPlotReady = null;
      window.yochoFirst.uplot = null;
      return loadUPlot();
    });
  }
  if (!uPlotReady) {
    uPlotReady = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = new URL('../vendor/uplot/uPlot.iife.min.js', import.meta.url).pathname;
      s.onload = () => { performance.mark('yocho:uplot'); resolve(); };
      s.onerror = () => { uPlotReady = null; reject(new Error('cannot load the charting library (uPlot)')); };
      document.head.append(s);
    });
  }
  return uPlotReady;
}

const PALETTE = ['#4c9be8', '#f39c4a', '#5cc08a', '#e8675f', '#a98ae6', '#e5c452', '#49c1c9', '#e681b8', '#9fb35a', '#c99b73'];
const FIXED = { tcp: '#4c9be8', udp: '#f39c4a', icmp: '#5cc08a', icmpv6: '#49c1c9', gre: '#a98ae6', other: '#7d8894', Other: '#7d8894', total: '#4c9be8' };

export function colour(name, i) {
  return FIXED[name] || PALETTE[i % PALETTE.length];
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16 & 255},${n >> 8 & 255},${n & 255},${a})`;
}

// StackedChart draws {t, series: [{name, values}]} in el, with values formatted by fmt.
export class StackedChart {
  constructor(el, { fmt = si, height = 260, label = '' } = {}) {
    this.el = el;
    this.fmt = fmt;
    this.height = height;
    this.label = label;
    this.plot = null;
    this.names = '';
    this.raw = [];
    // The observer also calls this once when it starts: a chart already at its width is not
    // drawn again.
    this.resize = () => {
      const width = this.width();
      if (this.plot && width !== this.plot.width) this.plot.setSize({ width, height: this.height });
    };
    this.ro = new ResizeObserver(this.resize);
    this.ro.observe(el);
    this.ready = loadUPlot();
    this.ready.catch(() => {}); // reported by set()
    this.latest = null;
  }

  width() { return Math.max(280, this.el.clientWidth || 600); }

  // set draws new data, once uPlot is loaded; the chart is rebuilt only when the series change.
  // It resolves when this data (or newer data given meanwhile) is drawn.
  async set(data) {
    this.latest = data;
    await this.ready;
    if (this.latest !== data || this.destroyed) return;
    this.draw(data);
  }

  draw(data) {
    const { t, series } = data;
    // Keep the stacking order stable: the largest series at the bottom.
    const order = series.map((s, i) => ({ s, i, sum: s.values.reduce((a, b) => a + (b || 0), 0) }))
      .sort((a, b) => b.sum - a.sum).map((x) => x.s);
    const cum = [];
    let acc = new Array(t.length).fill(0);
    for (const s of order) {
      acc = acc.map((v, j) => v + (s.values[j] || 0));
      cum.push(acc);
    }
    // Draw the top of the stack first so that each band covers the one below.
    const drawn = cum.slice().reverse();
    this.raw = order.slice().reverse().map((s) => s.values);
    const names = order.map((s) => s.name).reverse();
    const key = names.join('\u0000');
    const rows = [t, ...drawn];
    if (this.plot && key === this.names) {
      this.plot.setData(rows);
      return;
    }
    this.names = key;
    if (this.plot) this.plot.destroy();
    this.el.textContent = '';
    if (!t.length) {
      this.plot = null;
      this.el.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'No traffic in this range.' }));
      return;
    }
    const fmt = this.fmt;
    const raw = () => this.raw;
    const colours = new Map(order.map((s, i) => [s.name, colour(s.name, i)]));
    const opts = {
      width: this.width(),
      height: this.height,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { live: true },
      scales: { y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        { stroke: '#a9b4c0', grid: { stroke: '#253040', width: 1 }, ticks: { stroke: '#253040' } },
        {
          stroke: '#a9b4c0', grid: { stroke: '#253040', width: 1 }, ticks: { stroke: '#253040' },
          values: (u, vals) => vals.map((v) => fmt(v)),
          // Wide enough for the longest label ("999.5 Mbps"), measured in characters.
          size: (u, vals) => 24 + 7 * Math.max(5, ...(vals || []).map((v) => String(v).length)),
        },
      ],
      series: [
        { label: 'Time', value: (u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleString()) },
        ...names.map((n, i) => ({
          label: n,
          stroke: colours.get(n),
          fill: alpha(colours.get(n), 0.85),
          width: 1,
          points: { show: false },
          value: (u, v, si2, idx) => (idx == null ? '–' : fmt(raw()[i][idx])),
        })),
      ],
    };
    this.plot = new uPlot(opts, rows, this.el);
    this.plot.root.setAttribute('role', 'img');
    this.plot.root.setAttribute('aria-label', `${this.label} stacked by ${names.length} series`);
  }

  destroy() {
    this.destroyed = true;
    this.ro.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}
