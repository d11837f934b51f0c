// Pieces shared by the pages: panels, tables, threat badges, the confirm dialog.

import { h, label, pct } from './format.js';

export function panel(title, ...children) {
  return h('section', { class: 'panel' }, title ? h('h2', {}, title) : null, ...children);
}

// table builds a table from columns [{title, cell(row), num}] and rows. Clickable rows get href.
export function table(columns, rows, { href, empty = 'Nothing to show.', caption, id } = {}) {
  if (!rows.length) return h('p', { class: 'empty', id }, empty);
  return h('table', { class: 'data', id },
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.title)))),
    h('tbody', {}, rows.map((r) => {
      const link = href ? href(r) : null;
      return h('tr', { class: link ? 'link' : null, dataset: link ? { href: link } : undefined },
        columns.map((c, i) => {
          let v = c.cell(r);
          if (link && i === 0) v = h('a', { href: link }, v);
          return h(c.head ? 'th' : 'td', { class: c.num ? 'num' : c.cls || null, scope: c.head ? 'row' : null }, v);
        }));
    })));
}

// Rows that link somewhere answer a click anywhere on them (the first cell holds the real link,
// for the keyboard).
document.addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr.link');
  if (!tr || ev.target.closest('a, button, input, select')) return;
  tr.querySelector('a')?.click();
});

// topTable is a top-N list: the key(s), the value, and a bar with the share of the total.
export function topTable(result, dims, fmt, { id, linkFor, total } = {}) {
  const sum = total ?? result.total ?? result.rows.reduce((a, r) => a + r.value, 0) + (result.other || 0);
  const cols = dims.map((d, i) => ({
    title: d, cls: 'key',
    cell: (r) => (linkFor ? h('a', { href: linkFor(d, r.keys[i]), title: label(d, r.keys[i]) }, label(d, r.keys[i])) : h('span', { title: label(d, r.keys[i]) }, label(d, r.keys[i]))),
  }));
  cols.push({ title: 'value', num: true, cell: (r) => h('span', { 'data-value': String(r.value) }, fmt(r.value)) });
  cols.push({
    title: 'share', num: true,
    cell: (r) => {
      const s = sum > 0 ? r.value / sum : 0;
      return h('span', { class: 'share' }, h('span', { class: 'bar', style: { width: `${Math.max(1, Math.min(48, s * 48)).toFixed(1)}px` } }), pct(s));
    },
  });
  return table(cols, result.rows, { id, empty: 'No flows in this range.' });
}

// threat is a badge for a threat level 0–100.
export function threat(level) {
  const n = Number(level) || 0;
  const cls = n >= 75 ? 'critical' : n >= 50 ? 'high' : n >= 25 ? 'medium' : 'low';
  return h('span', { class: `threat ${cls}`, title: `threat level ${n} of 100 (${cls})` }, String(n));
}

export function stateBadge(s) {
  return h('span', { class: `badge state-${s || 'unknown'}` }, s || 'unknown');
}

// confirm asks a yes/no question in the page's dialog; it resolves to true on Confirm.
export function confirm(title, text, okLabel = 'Confirm') {
  const dlg = document.getElementById('confirm-dialog');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
    document.getElementById('confirm-ok').focus();
  });
}

// errorBox shows an API error in place of a page's content.
export function errorBox(err) {
  return h('div', { class: 'alert-box', role: 'alert' }, h('strong', {}, 'The API answered an error: '), err.message);
}

// kpi is one figure with its label.
export function kpi(title, value, { id, sub, dataset } = {}) {
  return h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, title), h('div', { class: 'kpi-value', id, dataset }, value), sub ? h('div', { class: 'kpi-sub' }, sub) : null);
}

// replace swaps the content of el.
export function replace(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
}
