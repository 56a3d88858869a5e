// ESLint rule: no import cycles between the project's own modules.
// Follows relative imports (static, re-exports and dynamic import()) from file to file, `.js`
// specifiers mapped to the `.ts` sources; type-only imports are skipped (they vanish at run
// time). Reports the import that closes a cycle, with the whole cycle.
import fs from 'node:fs';
import path from 'node:path';

const IMPORT_RE =
  /(?:^|[\n;])\s*(import|export)(\s+type)?\s+(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

const edgesCache = new Map();

function resolve(fromFile, spec) {
  const base = path.resolve(path.dirname(fromFile), spec);
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, path.join(base, 'index.ts')];
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
}

function edgesOf(file) {
  let edges = edgesCache.get(file);
  if (edges) return edges;
  edges = [];
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // unreadable: no edges
  }
  for (const m of text.matchAll(IMPORT_RE)) {
    if (m[2]) continue; // import type / export type
    const target = resolve(file, m[3] ?? m[4]);
    if (target) edges.push(target);
  }
  edgesCache.set(file, edges);
  return edges;
}

/** A path from `start` back to `goal`, or undefined. */
function pathBack(start, goal) {
  const seen = new Set();
  const stack = [[start, [start]]];
  while (stack.length) {
    const [file, trail] = stack.pop();
    if (file === goal) return trail;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const next of edgesOf(file)) stack.push([next, [...trail, next]]);
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'disallow import cycles between project modules' },
    schema: [],
    messages: { cycle: 'import cycle: {{cycle}}' },
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    const check = (node, source, typeOnly) => {
      if (typeOnly || !source || typeof source.value !== 'string' || !source.value.startsWith('.')) return;
      const target = resolve(file, source.value);
      if (!target) return;
      const trail = pathBack(target, file);
      if (trail) {
        const cycle = [file, ...trail].map((f) => path.relative(root, f)).join(' -> ');
        context.report({ node, messageId: 'cycle', data: { cycle } });
      }
    };
    return {
      ImportDeclaration: (n) => check(n, n.source, n.importKind === 'type'),
      ExportNamedDeclaration: (n) => check(n, n.source, n.exportKind === 'type'),
      ExportAllDeclaration: (n) => check(n, n.source, n.exportKind === 'type'),
      ImportExpression: (n) => check(n, n.source, false),
    };
  },
};
