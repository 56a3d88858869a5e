// Reading manifests from files, directories or stdin: YAML (several documents per file) or JSON.
// All or nothing: any problem in any document throws one ValidationError listing every problem
// with its file, document index (or line for syntax errors), field path and reason.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { errorMessage, type FieldIssue, ValidationError } from '../errors.js';
import type { Service } from '../types.js';
import { validateService } from './validate.js';

export interface ManifestDoc {
  /** Where the object came from, e.g. `web.yaml[0]`. */
  source: string;
  object: Service;
}

type Problem = FieldIssue & { source: string };

/** Parses and validates the documents of one file's text. Throws ValidationError. */
export function parseManifestText(text: string, file: string): ManifestDoc[] {
  const problems: Problem[] = [];
  const docs = collect(text, file, problems);
  if (problems.length) throw problemsError(problems);
  return docs;
}

/** Reads files, directories (*.yaml, *.yml, *.json, sorted) or '-' (stdin). Throws ValidationError. */
export async function readManifests(paths: string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<ManifestDoc[]> {
  const problems: Problem[] = [];
  const docs: ManifestDoc[] = [];
  for (const p of paths) {
    for (const file of await expand(p, problems)) {
      let text: string;
      try {
        text = file === '-' ? await readAll(stdin) : await readFile(file, 'utf8');
      } catch (err) {
        problems.push({ source: file, path: '', reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}` });
        continue;
      }
      docs.push(...collect(text, file === '-' ? '<stdin>' : file, problems));
    }
  }
  problems.push(...duplicateNames(docs));
  if (!problems.length && !docs.length) {
    problems.push({ source: paths.join(', '), path: '', reason: 'no manifest documents found' });
  }
  if (problems.length) throw problemsError(problems);
  return docs;
}

function collect(text: string, file: string, problems: Problem[]): ManifestDoc[] {
  const out: ManifestDoc[] = [];
  const lineOf = lineCounter(text);
  parseAllDocuments(text).forEach((doc, index) => {
    if ('errors' in doc && doc.errors.length) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? lineOf(e.pos[0]);
        problems.push({ source: `${file}:${line}`, path: '', reason: `invalid YAML: ${e.message.split('\n')[0]}` });
      }
      return;
    }
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) return; // an empty document (e.g. a trailing ---)
    const source = `${file}[${index}]`;
    const issues = validateService(obj);
    for (const issue of issues) problems.push({ ...issue, source });
    if (!issues.length) out.push({ source, object: obj as Service });
  });
  return out;
}

function duplicateNames(docs: ManifestDoc[]): Problem[] {
  const first = new Map<string, string>();
  const out: Problem[] = [];
  for (const d of docs) {
    const name = d.object.metadata.name;
    const prev = first.get(name);
    if (prev) out.push({ source: d.source, path: 'metadata.name', reason: `duplicate service name "${name}" (also in ${prev})` });
    else first.set(name, d.source);
  }
  return out;
}

async function expand(p: string, problems: Problem[]): Promise<string[]> {
  if (p === '-') return ['-'];
  try {
    const st = await stat(p);
    if (!st.isDirectory()) return [p];
    const entries = await readdir(p);
    return entries.filter((e) => /\.(ya?ml|json)$/.test(e)).sort().map((e) => path.join(p, e));
  } catch (err) {
    problems.push({ source: p, path: '', reason: `cannot read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorMessage(err)}` });
    return [];
  }
}

function problemsError(problems: Problem[]): ValidationError {
  return new ValidationError(problems);
}

function lineCounter(text: string): (offset: number) => number {
  return (offset) => text.slice(0, offset).split('\n').length;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}
