// The `get` output forms for scripts beyond json/yaml: `-o name` (`service/web`, one per line)
// and `-o jsonpath=TEMPLATE`. Pure: objects in, text out.
import type { Task } from '../../common/types.js';
import type { NodeView, ServiceView } from '../api-client.js';
import { addressesItems, parseJsonPath, renderJsonPath, type JsonPathTemplate } from '../jsonpath.js';
import { Kind } from '../resources.js';

export type ScriptOutput = { kind: 'name' } | { kind: 'jsonpath'; template: JsonPathTemplate };

export const SCRIPT_OUTPUT_FORMS = ['name', 'jsonpath=TEMPLATE'] as const;

/** `name` or `jsonpath=...` (also `jsonpath='...'`, quotes kept by some shells); else undefined. */
export function parseScriptOutput(text: string | undefined): ScriptOutput | undefined {
  if (text === 'name') return { kind: 'name' };
  const m = /^jsonpath=(.*)$/s.exec(text ?? '');
  if (!m) return undefined;
  let t = m[1] ?? '';
  if (t.length >= 2 && (t[0] === "'" || t[0] === '"') && t.at(-1) === t[0]) t = t.slice(1, -1);
  return { kind: 'jsonpath', template: parseJsonPath(t) };
}

export type Listed = ServiceView | Task | NodeView;

export function objectName(kind: Kind, obj: Listed): string {
  switch (kind) {
    case Kind.Service:
      return (obj as ServiceView).metadata.name;
    case Kind.Task:
    case Kind.Node:
      return (obj as Task | NodeView).name;
  }
}

export function renderScriptOutput(out: ScriptOutput, kind: Kind, single: boolean, items: readonly Listed[]): string {
  if (out.kind === 'name') return items.map((o) => `${kind}/${objectName(kind, o)}`).join('\n');
  if (single) return renderJsonPath(out.template, items[0]);
  if (addressesItems(out.template)) return renderJsonPath(out.template, { kind: 'List', items });
  return items.map((o) => renderJsonPath(out.template, o)).join('\n');
}

/** A rendered table without its header line. */
export function withoutHeaders(table: string): string {
  return table.split('\n').slice(1).join('\n');
}
