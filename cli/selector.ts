// Label selectors as kubectl writes them (`-l`): a comma-separated list of requirements that
// must all hold. Pure: parsing and matching only, so every form is unit-tested on plain maps.
//
//   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
import { CliError } from './command.js';

export const SelectorOp = {
  Equals: '=',
  NotEquals: '!=',
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!exists',
} as const;
export type SelectorOp = (typeof SelectorOp)[keyof typeof SelectorOp];

export interface Requirement {
  key: string;
  op: SelectorOp;
  values: string[];
}

export type Selector = readonly Requirement[];

/** Label keys and values: letters, digits, `-`, `_`, `.`, and `/` in keys (a prefix). */
const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

export class SelectorError extends CliError {
  constructor(selector: string, reason: string) {
    super(`invalid selector "${selector}": ${reason}`);
  }
}

export function parseSelector(text: string): Selector {
  const reqs: Requirement[] = [];
  for (const part of splitTopLevel(text)) {
    const p = part.trim();
    if (!p) throw new SelectorError(text, 'empty requirement (stray comma?)');
    reqs.push(parseRequirement(p, text));
  }
  if (!reqs.length) throw new SelectorError(text, 'empty selector');
  return reqs;
}

/** Commas separate requirements except inside the parentheses of `in (a,b)`. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw new SelectorError(text, 'unbalanced ")"');
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (depth !== 0) throw new SelectorError(text, 'missing ")"');
  parts.push(cur);
  return parts;
}

function parseRequirement(p: string, whole: string): Requirement {
  const setForm = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(p);
  if (setForm) {
    const [, key = '', op, list = ''] = setForm;
    const values = list.split(',').map((v) => v.trim());
    if (values.some((v) => !v)) throw new SelectorError(whole, `empty value in "${p}"`);
    for (const v of values) checkValue(v, whole);
    return { key: checkKey(key, whole), op: op === 'in' ? SelectorOp.In : SelectorOp.NotIn, values };
  }
  const eq = /^([^!=\s]+)\s*(==|!=|=)\s*(.*)$/.exec(p);
  if (eq) {
    const [, key = '', op, value = ''] = eq;
    return { key: checkKey(key, whole), op: op === '!=' ? SelectorOp.NotEquals : SelectorOp.Equals, values: [checkValue(value.trim(), whole)] };
  }
  if (p.startsWith('!')) return { key: checkKey(p.slice(1).trim(), whole), op: SelectorOp.DoesNotExist, values: [] };
  if (/\s/.test(p)) throw new SelectorError(whole, `cannot read "${p}": use key=value, key!=value, key in (a,b), key notin (a,b), key or !key`);
  return { key: checkKey(p, whole), op: SelectorOp.Exists, values: [] };
}

function checkKey(key: string, whole: string): string {
  if (!KEY.test(key)) throw new SelectorError(whole, `"${key}" is not a valid label key`);
  return key;
}

function checkValue(value: string, whole: string): string {
  if (!VALUE.test(value)) throw new SelectorError(whole, `"${value}" is not a valid label value`);
  return value;
}

/** Like kubectl: `!=` and `notin` also match objects that do not have the label at all. */
export function matchesSelector(selector: Selector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case SelectorOp.Equals:
        return has && v === r.values[0];
      case SelectorOp.NotEquals:
        return !has || v !== r.values[0];
      case SelectorOp.In:
        return has && r.values.includes(v ?? '');
      case SelectorOp.NotIn:
        return !has || !r.values.includes(v ?? '');
      case SelectorOp.Exists:
        return has;
      case SelectorOp.DoesNotExist:
        return !has;
    }
  });
}
