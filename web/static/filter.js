// The filter box: an input that suggests field names, operators and values as the user types, and
// shows where a filter's syntax error is. Its tokeniser mirrors the server's (internal/query): the
// server alone decides whether a filter is valid; this file only helps to write one.

import { h } from './format.js';

// FIELDS are the fields of the filter language (internal/query/fields.go), with what they hold.
export const FIELDS = [
  ['exporter', 'addr', 'router that exported the flow'], ['src_addr', 'addr', 'source address'],
  ['dst_addr', 'addr', 'destination address'], ['next_hop', 'addr', 'next-hop address'],
  ['src_port', 'port', 'source port'], ['dst_port', 'port', 'destination port'],
  ['proto', 'proto', 'IP protocol (number or name)'], ['src_as', 'as', 'source AS number'],
  ['dst_as', 'as', 'destination AS number'], ['in_if', 'uint', 'input interface index'],
  ['out_if', 'uint', 'output interface index'], ['direction', 'dir', 'unknown, ingress or egress'],
  ['tcp_flags', 'uint', 'TCP flags'], ['tos', 'uint', 'type of service'], ['icmp_type', 'uint', 'ICMP type'],
  ['icmp_code', 'uint', 'ICMP code'], ['sampling_rate', 'uint', '1 in N packets'], ['vlan', 'uint', 'VLAN id'],
  ['src_mask', 'uint', 'source prefix length'], ['dst_mask', 'uint', 'destination prefix length'],
  ['bytes', 'uint', 'bytes, scaled'], ['packets', 'uint', 'packets, scaled'], ['duration_ms', 'uint', 'flow duration, ms'],
  ['obs_domain', 'uint', 'observation domain'], ['sampler_id', 'uint', 'sampler id'],
  ['forwarding_status', 'uint', 'forwarding status'], ['mpls_label', 'uint', 'top MPLS label'],
  ['src_hostgroup', 'name', 'configured network holding the source'],
  ['dst_hostgroup', 'name', 'configured network holding the destination'],
  ['src_country', 'country', 'source country (ISO 3166, JP)'], ['dst_country', 'country', 'destination country (ISO 3166)'],
].map(([name, kind, doc]) => ({ name, kind, doc }));
const BY_NAME = new Map(FIELDS.map((f) => [f.name, f]));

// GROUPABLE are the fields one can group by (bytes and packets are metrics).
export const GROUPABLE = FIELDS.filter((f) => f.name !== 'bytes' && f.name !== 'packets').map((f) => f.name);

const OPS = ['=', '!=', 'in', 'not in', '<', '<=', '>', '>='];
const STATIC_VALUES = {
  proto: ['tcp', 'udp', 'icmp', 'icmpv6', 'gre', 'esp'],
  dir: ['ingress', 'egress', 'unknown'],
  port: ['53', '123', '80', '443', '11211', '1900', '389', '19'],
  country: ['JP', 'US', 'CN', 'KR', 'DE', 'GB', 'NL', 'SG'],
};

const WORD = /[A-Za-z0-9_.:/-]/;

// tokens splits text like the server's lexer; unknown characters become their own token.
export function tokens(text) {
  const out = [];
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    if ('(),'.includes(c)) { out.push({ kind: c, text: c, pos: i, end: i + 1 }); i++; continue; }
    if ('=!<>'.includes(c)) {
      const two = text.slice(i, i + 2);
      const t = ['==', '!=', '<=', '>=', '<>'].includes(two) ? two : c;
      out.push({ kind: 'op', text: t, pos: i, end: i + t.length });
      i += t.length;
      continue;
    }
    if (c === '"') { // a quoted name: one word, quotes included
      const j = text.indexOf('"', i + 1);
      const end = j < 0 ? text.length : j + 1;
      out.push({ kind: j < 0 ? 'bad' : 'word', text: text.slice(i, end), pos: i, end });
      i = end;
      continue;
    }
    if (WORD.test(c)) {
      let j = i;
      while (j < text.length && WORD.test(text[j])) j++;
      out.push({ kind: 'word', text: text.slice(i, j), pos: i, end: j });
      i = j;
      continue;
    }
    out.push({ kind: 'bad', text: c, pos: i, end: i + 1 });
    i++;
  }
  return out;
}

const isKw = (t, kw) => t && t.kind === 'word' && t.text.toLowerCase() === kw;

// context says what may come at the cursor: {want: 'field'|'op'|'value'|'join', field, word}.
export function context(text, cursor) {
  const toks = tokens(text.slice(0, cursor));
  let word = '';
  let start = cursor;
  const last = toks[toks.length - 1];
  if (last && last.kind === 'word' && last.end === cursor) {
    word = last.text;
    start = last.pos;
    toks.pop();
  }
  const prev = toks[toks.length - 1];
  let want = 'field';
  let field = null;
  if (!prev || prev.kind === '(' || isKw(prev, 'and') || isKw(prev, 'or') || (isKw(prev, 'not') && !isFieldBefore(toks))) {
    want = 'field';
  } else if (prev.kind === 'word' && BY_NAME.has(prev.text.toLowerCase()) && !afterOp(toks)) {
    want = 'op';
    field = prev.text.toLowerCase();
  } else if (prev.kind === 'op' || isKw(prev, 'in') || (prev.kind === ',' && inList(toks)) || (prev.kind === '(' && inList(toks))) {
    want = 'value';
    field = fieldOf(toks);
  } else if (isKw(prev, 'not') && isFieldBefore(toks)) {
    want = 'op';
    field = toks[toks.length - 2].text.toLowerCase();
  } else {
    want = inList(toks) ? 'value' : 'join';
    if (want === 'value') field = fieldOf(toks);
  }
  return { want, field, word, start };
}

function isFieldBefore(toks) {
  const t = toks[toks.length - 2];
  return t && t.kind === 'word' && BY_NAME.has(t.text.toLowerCase());
}

function afterOp(toks) {
  const t = toks[toks.length - 2];
  return t && (t.kind === 'op' || isKw(t, 'in'));
}

function inList(toks) {
  let depth = 0;
  for (let i = toks.length - 1; i >= 0; i--) {
    if (toks[i].kind === ')') depth++;
    else if (toks[i].kind === '(') {
      if (depth === 0) return isKw(toks[i - 1], 'in');
      depth--;
    }
  }
  return false;
}

function fieldOf(toks) {
  for (let i = toks.length - 1; i >= 0; i--) {
    const t = toks[i];
    if (t.kind === 'word' && BY_NAME.has(t.text.toLowerCase()) && (toks[i + 1]?.kind === 'op' || isKw(toks[i + 1], 'in') || isKw(toks[i + 1], 'not'))) return t.text.toLowerCase();
  }
  return null;
}

// FilterBox is the input with its suggestion list and its error line. values(field) returns a
// promise of suggested values for a field (the page asks the API for its top values).
export class FilterBox {
  constructor({ value = '', values, onSubmit }) {
    this.values = values;
    this.onSubmit = onSubmit;
    this.items = [];
    this.active = -1;
    this.seq = 0;
    this.input = h('input', {
      id: 'filter', type: 'text', value, spellcheck: 'false', autocomplete: 'off',
      role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': 'filter-suggestions',
      'aria-describedby': 'filter-help filter-error',
      placeholder: 'e.g. dst_addr in 203.0.113.0/24 and proto = udp and src_port in (53, 123)',
    });
    this.list = h('ul', { id: 'filter-suggestions', role: 'listbox', class: 'suggestions', hidden: true, 'aria-label': 'Suggestions' });
    this.error = h('div', { id: 'filter-error', class: 'filter-error', role: 'alert', hidden: true });
    this.el = h('div', { class: 'filter-box' },
      h('label', { for: 'filter' }, 'Filter'),
      h('div', { class: 'combo' }, this.input, this.list),
      h('p', { id: 'filter-help', class: 'hint' }, 'Fields, comparisons (= != < > in), CIDR prefixes, lists, and / or / not, parentheses. Enter runs the query; arrows and Tab pick a suggestion.'),
      this.error);
    this.input.addEventListener('input', () => { this.clearError(); this.suggest(); });
    this.input.addEventListener('focus', () => this.suggest());
    this.input.addEventListener('click', () => this.suggest());
    this.input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    this.input.addEventListener('keydown', (ev) => this.key(ev));
  }

  get value() { return this.input.value.trim(); }

  key(ev) {
    const open = !this.list.hidden && this.items.length;
    // Tab completes the word being typed (or takes the suggestion picked with the arrows), else
    // moves on, so that the box never traps the keyboard; Enter takes a suggestion only once the
    // user moved through the list with the arrows, and otherwise runs the query.
    if (ev.key === 'ArrowDown' && open) { ev.preventDefault(); this.navigated = true; this.move(1); }
    else if (ev.key === 'ArrowUp' && open) { ev.preventDefault(); this.navigated = true; this.move(-1); }
    else if (((ev.key === 'Tab' && (this.navigated || this.ctx?.word)) || (ev.key === 'Enter' && this.navigated)) && open && this.active >= 0) { ev.preventDefault(); this.pick(this.items[this.active]); }
    else if (ev.key === 'Escape' && open) { ev.preventDefault(); this.close(); }
    else if (ev.key === 'Enter') { ev.preventDefault(); this.close(); this.onSubmit(); }
  }

  move(d) {
    this.active = (this.active + d + this.items.length) % this.items.length;
    [...this.list.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === this.active)));
    const li = this.list.children[this.active];
    this.input.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  async suggest() {
    const seq = ++this.seq;
    const text = this.input.value;
    const cur = this.input.selectionStart ?? text.length;
    const ctx = context(text, cur);
    const w = ctx.word.toLowerCase();
    let items = [];
    if (ctx.want === 'field') {
      items = FIELDS.filter((f) => f.name.startsWith(w)).map((f) => ({ text: f.name, note: f.doc }));
      if ('not'.startsWith(w) && w) items.push({ text: 'not', note: 'negation' });
    } else if (ctx.want === 'op') {
      items = OPS.filter((o) => o.startsWith(w)).map((o) => ({ text: o, note: 'operator' }));
    } else if (ctx.want === 'join') {
      items = ['and', 'or', ')'].filter((o) => o.startsWith(w)).map((o) => ({ text: o, note: '' }));
    } else if (ctx.want === 'value' && ctx.field) {
      const f = BY_NAME.get(ctx.field);
      let vals = STATIC_VALUES[f.kind] || [];
      try {
        const got = await this.values(ctx.field);
        if (seq !== this.seq) return;
        vals = [...new Set([...got, ...vals])];
      } catch { /* suggestions are a help, not a need */ }
      // a value that is not one word (a hostgroup with a space, none at all) is quoted
      const word = (v) => (/^[A-Za-z0-9_.:/-]+$/.test(String(v)) ? String(v) : JSON.stringify(String(v)));
      items = vals.map(word).filter((v) => v.toLowerCase().startsWith(w)).slice(0, 12).map((v) => ({ text: v, note: ctx.field }));
    }
    if (seq !== this.seq) return;
    this.ctx = ctx;
    this.show(items.filter((i) => i.text.toLowerCase() !== w).slice(0, 12));
  }

  show(items) {
    this.navigated = false;
    this.items = items;
    this.active = items.length ? 0 : -1;
    this.list.replaceChildren(...items.map((it, i) => {
      const li = h('li', { id: `sugg-${i}`, role: 'option', 'aria-selected': String(i === 0) },
        h('span', { class: 'sugg-text' }, it.text), it.note ? h('span', { class: 'sugg-note' }, it.note) : null);
      li.addEventListener('mousedown', (ev) => { ev.preventDefault(); this.pick(it); });
      return li;
    }));
    const open = items.length > 0 && document.activeElement === this.input;
    this.list.hidden = !open;
    this.input.setAttribute('aria-expanded', String(open));
    if (open) this.input.setAttribute('aria-activedescendant', 'sugg-0');
    else this.input.removeAttribute('aria-activedescendant');
  }

  // close hides the list and drops the suggestions still being fetched.
  close() { this.seq++; this.show([]); }

  pick(it) {
    const text = this.input.value;
    const cur = this.input.selectionStart ?? text.length;
    const before = text.slice(0, this.ctx.start);
    const after = text.slice(cur).replace(/^[A-Za-z0-9_.:/-]*/, '');
    const ins = it.text + ' ';
    this.input.value = before + ins + after.replace(/^\s+/, '');
    const pos = before.length + ins.length;
    this.input.setSelectionRange(pos, pos);
    this.input.focus();
    this.suggest();
  }

  // showError marks the error: the message, and the filter with a caret under the position.
  showError(message, pos) {
    const text = this.input.value;
    this.input.setAttribute('aria-invalid', 'true');
    const kids = [h('strong', {}, message)];
    if (pos != null && pos >= 0) {
      const at = Math.min(pos, text.length);
      kids.push(h('pre', { class: 'caret', 'data-position': String(at) },
        text.slice(0, at), h('mark', {}, text.slice(at, at + 1) || ' '), text.slice(at + 1), '\n',
        ' '.repeat(at) + '^'));
      this.error.dataset.position = String(at);
      // Put the cursor where the problem is, when the user is in the box.
      if (document.activeElement === this.input) this.input.setSelectionRange(at, at);
    }
    this.error.replaceChildren(...kids);
    this.error.hidden = false;
  }

  clearError() {
    this.input.removeAttribute('aria-invalid');
    this.error.hidden = true;
    delete this.error.dataset.position;
  }
}
