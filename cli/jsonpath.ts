// `-o jsonpath=TEMPLATE`: the subset of kubectl's JSONPath templates that scripts use. Pure: a
// parser and an evaluator over plain JSON values.
//
// Template: literal text with `{...}` expressions. Inside braces: a path (`.metadata.name`,
// `.spec.ports[0]`, `.items[*].metadata.name`, `['odd.key']`, `..name` at any depth, `[-1]`,
// `[1:3]`, `[?(@.state=="running")]`), a string literal (`{"\n"}`), or `range PATH` ... `end`,
// whose body is evaluated once per element with paths relative to that element. A missing field
// prints nothing (kubectl's default --allow-missing-template-keys). Several results of one
// expression are joined by spaces; strings print bare, other values as compact JSON.
import { CliError } from './command.js';

export class JsonPathError extends CliError {
  constructor(template: string, reason: string) {
    super(`invalid jsonpath template "${template}": ${reason}`);
  }
}

type Segment =
  | { kind: 'field'; name: string }
  | { kind: 'wildcard' }
  | { kind: 'recursive'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'slice'; start?: number; end?: number }
  | { kind: 'filter'; path: Segment[]; op?: string; value?: unknown };

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'path'; path: Segment[] }
  | { kind: 'range'; path: Segment[]; body: Node[] };

export interface JsonPathTemplate {
  readonly source: string;
  readonly nodes: readonly Node[];
}

export function parseJsonPath(source: string): JsonPathTemplate {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  const top = () => stack[stack.length - 1] ?? root;
  let i = 0;
  let text = '';
  while (i < source.length) {
    const ch = source[i] ?? '';
    if (ch !== '{') {
      text += ch;
      i++;
      continue;
    }
    if (text) top().push({ kind: 'text', text });
    text = '';
    const close = findClose(source, i + 1);
    if (close < 0) throw new JsonPathError(source, `unclosed "{" at ${i}`);
    const inner = source.slice(i + 1, close).trim();
    i = close + 1;
    if (inner === 'end') {
      if (stack.length === 1) throw new JsonPathError(source, '"{end}" without "{range ...}"');
      stack.pop();
    } else if (/^range\s/.test(inner)) {
      const node: Node = { kind: 'range', path: parsePath(inner.slice(5).trim(), source), body: [] };
      top().push(node);
      stack.push(node.body);
    } else if (/^".*"$/s.test(inner) || /^'.*'$/s.test(inner)) {
      top().push({ kind: 'text', text: stringLiteral(inner, source) });
    } else {
      top().push({ kind: 'path', path: parsePath(inner, source) });
    }
  }
  if (text) top().push({ kind: 'text', text });
  if (stack.length > 1) throw new JsonPathError(source, '"{range ...}" without "{end}"');
  return { source, nodes: root };
}

/** The `}` closing an expression, skipping any inside quotes. */
function findClose(s: string, from: number): number {
  let quote = '';
  for (let j = from; j < s.length; j++) {
    const c = s[j];
    if (quote) {
      if (c === '\\') j++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '}') {
      return j;
    }
  }
  return -1;
}

function stringLiteral(lit: string, source: string): string {
  const body = lit.slice(1, -1);
  try {
    return JSON.parse(`"${body.replace(/(^|[^\\])"/g, '$1\\"')}"`) as string;
  } catch {
    throw new JsonPathError(source, `bad string literal ${lit}`);
  }
}

function parsePath(expr: string, source: string): Segment[] {
  let s = expr.trim();
  if (s.startsWith('$') || s.startsWith('@')) s = s.slice(1);
  const segs: Segment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new JsonPathError(source, `${why} in "${expr}"`);
  };
  const readName = () => {
    const m = /^[^.[\]\s]+/.exec(s.slice(i));
    return m?.[0] ?? '';
  };
  while (i < s.length) {
    if (s.startsWith('..', i)) {
      i += 2;
      const name = readName();
      if (!name) fail('a name must follow ".."');
      i += name.length;
      segs.push({ kind: 'recursive', name });
    } else if (s[i] === '.') {
      i++;
      const name = readName();
      if (!name) {
        if (i >= s.length && segs.length === 0) break; // `{.}`: the value itself
        if (s[i] === '[') continue;
        fail('a name must follow "."');
      }
      i += name.length;
      segs.push(name === '*' ? { kind: 'wildcard' } : { kind: 'field', name });
    } else if (s[i] === '[') {
      const close = bracketEnd(s, i);
      if (close < 0) fail('unclosed "["');
      segs.push(parseBracket(s.slice(i + 1, close).trim(), fail));
      i = close + 1;
    } else if (segs.length === 0 && i === 0) {
      // `{metadata.name}`: kubectl accepts a path without its leading dot.
      s = `.${s}`;
    } else {
      fail(`unexpected "${s[i]}"`);
    }
  }
  return segs;
}

function bracketEnd(s: string, open: number): number {
  let depth = 0;
  let quote = '';
  for (let j = open; j < s.length; j++) {
    const c = s[j];
    if (quote) {
      if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return j;
  }
  return -1;
}

function parseBracket(inner: string, fail: (why: string) => never): Segment {
  if (inner === '*') return { kind: 'wildcard' };
  if (/^-?\d+$/.test(inner)) return { kind: 'index', index: Number(inner) };
  const slice = /^(-?\d*):(-?\d*)$/.exec(inner);
  if (slice) {
    return {
      kind: 'slice',
      ...(slice[1] ? { start: Number(slice[1]) } : {}),
      ...(slice[2] ? { end: Number(slice[2]) } : {}),
    };
  }
  const quoted = /^(['"])(.*)\1$/.exec(inner);
  if (quoted) return { kind: 'field', name: quoted[2] ?? '' };
  const filter = /^\?\((.*)\)$/.exec(inner);
  if (filter) {
    const body = (filter[1] ?? '').trim();
    const cmp = /^@(\S*?)\s*(==|!=|<=|>=|<|>)\s*(.+)$/.exec(body);
    if (cmp) {
      return { kind: 'filter', path: parsePath(cmp[1] ?? '', inner), op: cmp[2] ?? '==', value: literal((cmp[3] ?? '').trim(), fail) };
    }
    if (body.startsWith('@')) return { kind: 'filter', path: parsePath(body.slice(1), inner) };
    fail(`cannot read filter "${body}"`);
  }
  return fail(`cannot read "[${inner}]"`);
}

function literal(text: string, fail: (why: string) => never): unknown {
  const q = /^(['"])(.*)\1$/.exec(text);
  if (q) return q[2] ?? '';
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null') return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return fail(`cannot read value "${text}" (quote strings)`);
}

/** Evaluates a template against one value. */
export function renderJsonPath(template: JsonPathTemplate, data: unknown): string {
  return renderNodes(template.nodes, data);
}

function renderNodes(nodes: readonly Node[], cur: unknown): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'path') out += evaluate(n.path, [cur]).map(show).join(' ');
    else for (const item of evaluate(n.path, [cur]).flatMap(elements)) out += renderNodes(n.body, item);
  }
  return out;
}

/** `range .items[*]` and `range .items` both iterate the elements. */
function elements(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined) return '';
  return JSON.stringify(v);
}

function evaluate(path: readonly Segment[], start: unknown[]): unknown[] {
  let cur = start;
  for (const seg of path) cur = cur.flatMap((v) => step(seg, v));
  return cur;
}

function step(seg: Segment, v: unknown): unknown[] {
  switch (seg.kind) {
    case 'field':
      return isRecord(v) && Object.prototype.hasOwnProperty.call(v, seg.name) ? [v[seg.name]] : [];
    case 'wildcard':
      return Array.isArray(v) ? v : isRecord(v) ? Object.values(v) : [];
    case 'index': {
      if (!Array.isArray(v)) return [];
      const i = seg.index < 0 ? v.length + seg.index : seg.index;
      return i >= 0 && i < v.length ? [v[i]] : [];
    }
    case 'slice':
      return Array.isArray(v) ? v.slice(seg.start, seg.end) : [];
    case 'recursive':
      return descend(v, seg.name);
    case 'filter': {
      const items = Array.isArray(v) ? v : [];
      return items.filter((item) => {
        const found = evaluate(seg.path, [item]);
        if (seg.op === undefined) return found.length > 0 && found.some((f) => f !== false && f !== null);
        return found.some((f) => compare(f, seg.op ?? '==', seg.value));
      });
    }
  }
}

function descend(v: unknown, name: string): unknown[] {
  const out: unknown[] = [];
  const visit = (x: unknown) => {
    if (Array.isArray(x)) {
      x.forEach(visit);
    } else if (isRecord(x)) {
      for (const [k, child] of Object.entries(x)) {
        if (name === '*' || k === name) out.push(child);
        visit(child);
      }
    }
  };
  visit(v);
  return out;
}

function compare(a: unknown, op: string, b: unknown): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    default: {
      if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
      const x = a;
      const y = b as number | string;
      return op === '<' ? x < y : op === '>' ? x > y : op === '<=' ? x <= y : x >= y;
    }
  }
}

/**
 * Whether the template addresses the list object (`{.items[*]...}`, `{range .items[*]}`): then it
 * is evaluated once against `{ items }`, like kubectl; otherwise once per item, one line each.
 */
export function addressesItems(template: JsonPathTemplate): boolean {
  const uses = (nodes: readonly Node[]): boolean =>
    nodes.some((n) => {
      if (n.kind === 'text') return false;
      const first = n.path[0];
      if (first?.kind === 'field' && first.name === 'items') return true;
      return false;
    });
  return uses(template.nodes);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
