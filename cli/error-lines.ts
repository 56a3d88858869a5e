// How an error becomes the `error: ...` lines on stderr: one line per problem, never a stack.
import { ValidationError } from '../common/errors.js';

/** One line per problem; a manifest problem names its file and document (or line), field and reason. */
export function errorLines(e: unknown): string[] {
  if (e instanceof ValidationError && e.issues.length) {
    return e.issues.map((i) => {
      const source = (i as { source?: string }).source ?? e.source;
      return [source, i.path ? `${i.path}:` : '', i.reason].filter(Boolean).join(' ');
    });
  }
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n').filter((x) => x.trim());
}
