// Placement constraints: `node.name == n1`, `node.id != abc`, `node.labels.zone == a`.
// Parsed once (validation names the field on a bad one) and matched against nodes by the
// scheduler and the global orchestrator alike.
import type { Node } from './types.js';

export interface Constraint {
  /** The text as the user wrote it, for explanations. */
  text: string;
  field: 'node.name' | 'node.id' | `node.labels.${string}`;
  op: '==' | '!=';
  value: string;
}

const CONSTRAINT_RE = /^\s*(node\.name|node\.id|node\.labels\.[A-Za-z0-9_.\-/]+)\s*(==|!=)\s*(\S+)\s*$/;

/** Returns the constraint, or an error message saying what is wrong with it. */
export function parseConstraint(text: string): Constraint | string {
  const m = CONSTRAINT_RE.exec(text);
  if (!m) {
    return `invalid constraint "${text}": expected "node.name|node.id|node.labels.KEY ==|!= VALUE"`;
  }
  return { text: text.trim(), field: m[1] as Constraint['field'], op: m[2] as Constraint['op'], value: m[3]! };
}

/** Parses constraints already validated; throws on a bad one. */
export function parseConstraints(texts: string[] | undefined): Constraint[] {
  return (texts ?? []).map((t) => {
    const c = parseConstraint(t);
    if (typeof c === 'string') throw new Error(c);
    return c;
  });
}

export function matchesConstraint(node: Pick<Node, 'id' | 'name' | 'labels'>, c: Constraint): boolean {
  let actual: string | undefined;
  if (c.field === 'node.name') actual = node.name;
  else if (c.field === 'node.id') actual = node.id;
  else actual = node.labels[c.field.slice('node.labels.'.length)];
  return c.op === '==' ? actual === c.value : actual !== c.value;
}

/** The first constraint the node does not meet, or undefined when it meets them all. */
export function firstUnmet(node: Pick<Node, 'id' | 'name' | 'labels'>, cs: Constraint[]): Constraint | undefined {
  return cs.find((c) => !matchesConstraint(node, c));
}
