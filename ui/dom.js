// Small DOM helpers. Text is always set as text (never parsed as HTML): names, labels and log
// lines come from the cluster and must not become markup.

/** An element: h('div.a.b', { title: 'x', onclick: fn, dataset: { k: 'v' } }, child, 'text', ...). */
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces what `el` shows by `content` (text or a node), only when it differs. */
export function setContent(el, content) {
  if (content instanceof Node) {
    if (el.firstChild !== content || el.childNodes.length !== 1) el.replaceChildren(content);
    return;
  }
  const text = content === undefined || content === null ? '' : String(content);
  if (el.childNodes.length === 1 && el.firstChild.nodeType === 3) {
    if (el.firstChild.data !== text) el.firstChild.data = text;
  } else el.replaceChildren(document.createTextNode(text));
}

export function age(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function cpu(millicores) {
  if (millicores === undefined) return '';
  return millicores % 1000 === 0 ? `${millicores / 1000}` : `${millicores}m`;
}

export function bytes(n) {
  if (n === undefined) return '';
  const units = [['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
  for (const [u, size] of units) if (n >= size) return `${(n / size).toFixed(n % size === 0 ? 0 : 1)}${u}`;
  return `${n}B`;
}

/** A state shown as a coloured badge (the class names the state). */
export function badge(text, kind = text) {
  return h(`span.badge.s-${String(kind).replace(/[^a-z0-9-]/gi, '')}`, { text });
}

export function link(href, text) {
  return h('a', { href, text });
}
