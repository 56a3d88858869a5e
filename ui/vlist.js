// A virtualised table: however many rows it holds (1,000 nodes, 10,000 tasks), it keeps in the
// DOM only the rows in view (plus a few), positioned in a spacer as tall as all of them. Rows
// are reused as the view scrolls; update(changed) redraws only the visible rows whose key
// changed, setKeys() (new order or membership) only the visible rows.
import { h, setContent } from './dom.js';

const OVERSCAN = 6;

export class VirtualList {
  /**
   * columns: [{ title, cls, render(item) -> text | Node }]; get(key) -> item; rowHeight in px;
   * maxRows: the most rows shown before it scrolls; name: data-list attribute (tests, styles).
   */
  constructor({ columns, get, rowHeight = 30, maxRows = 15, name, empty = 'Nothing to show', rowClass }) {
    this.columns = columns;
    this.getItem = get;
    this.rowHeight = rowHeight;
    this.maxRows = maxRows;
    this.rowClass = rowClass;
    this.keys = [];
    this.rows = [];
    this.head = h('div.vrow.vhead', {}, columns.map((c) => h(`span.cell${c.cls ? `.${c.cls}` : ''}`, { text: c.title })));
    this.spacer = h('div.vspacer');
    this.body = h('div.vbody', { onscroll: () => this.scheduleRender() }, this.spacer);
    this.empty = h('div.vempty', { text: empty });
    this.el = h('div.vlist', { 'data-list': name, role: 'table' }, this.head, this.body, this.empty);
    this.frame = 0;
    this.count = h('span.count');
  }

  /** The keys in display order. Redraws the visible rows. */
  setKeys(keys) {
    this.keys = keys;
    const shown = Math.min(Math.max(keys.length, 1), this.maxRows);
    this.body.style.height = `${shown * this.rowHeight}px`;
    this.spacer.style.height = `${keys.length * this.rowHeight}px`;
    this.empty.hidden = keys.length > 0;
    this.body.hidden = keys.length === 0;
    setContent(this.count, String(keys.length));
    this.render(true);
  }

  /** Redraws the visible rows whose key is in `changed`. */
  update(changed) {
    for (const row of this.rows) if (!row.hidden && changed.has(row.dataset.key)) this.fill(row, row.dataset.key);
  }

  /** Redraws every visible row (ages that grew). */
  refresh() {
    this.render(true);
  }

  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render(false);
    });
  }

  render(force) {
    const top = this.body.scrollTop;
    const height = this.body.clientHeight || this.maxRows * this.rowHeight;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN);
    const last = Math.min(this.keys.length, Math.ceil((top + height) / this.rowHeight) + OVERSCAN);
    const needed = last - first;
    while (this.rows.length < needed) {
      const row = h(`div.vrow`, { role: 'row' }, this.columns.map((c) => h(`span.cell${c.cls ? `.${c.cls}` : ''}`, { role: 'cell' })));
      this.spacer.append(row);
      this.rows.push(row);
    }
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      const index = first + i;
      if (i >= needed) {
        row.hidden = true;
        continue;
      }
      row.hidden = false;
      const key = this.keys[index];
      row.style.transform = `translateY(${index * this.rowHeight}px)`;
      if (force || row.dataset.key !== key) this.fill(row, key);
    }
  }

  fill(row, key) {
    const item = this.getItem(key);
    row.dataset.key = key;
    if (!item) return;
    row.className = `vrow${this.rowClass ? ` ${this.rowClass(item)}` : ''}`;
    this.columns.forEach((c, i) => setContent(row.children[i], c.render(item)));
  }
}
