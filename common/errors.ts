// One error class per condition, with readonly context. `transient` marks errors worth retrying;
// `code` names the condition, stable across versions and threads (a class does not cross a
// thread's MessagePort: its code does, and the receiver rebuilds the error from it).

export class BerthError extends Error {
  readonly transient: boolean = false;
  /** e.g. NOT_FOUND, CONFLICT; subclasses set theirs, a rebuilt error keeps the sender's. */
  readonly code: string = 'INTERNAL';
  constructor(message: string, code?: string) {
    super(message);
    this.name = new.target.name;
    if (code) this.code = code;
  }
}

/** A conditional write lost against a newer version of the object. */
export class ConflictError extends BerthError {
  override readonly code: string = 'CONFLICT';
  override readonly transient = true;
  constructor(
    readonly key: string,
    message = `conflict: ${key} was modified concurrently; re-read and retry`,
  ) {
    super(message);
  }
}

/** A fenced write was refused because the writer is no longer the leader it was fenced as. */
export class FenceLostError extends BerthError {
  override readonly code: string = 'FENCE_LOST';
  constructor(readonly fenceKey: string) {
    super(`not the leader any more: ${fenceKey} changed; write refused`);
  }
}

export class NotFoundError extends BerthError {
  override readonly code: string = 'NOT_FOUND';
  constructor(
    readonly kind: string,
    readonly objectName: string,
  ) {
    super(`${kind} "${objectName}" not found`);
  }
}

export class StoreUnavailableError extends BerthError {
  override readonly code: string = 'UNAVAILABLE';
  override readonly transient = true;
  constructor(readonly detail: string) {
    super(`store unavailable: ${detail}`);
  }
}

/** An error as data, to cross a MessagePort: its code, class name and message. */
export interface ErrorData {
  code: string;
  name: string;
  message: string;
}

/** `err` as data; anything not a BerthError is INTERNAL under its own name. */
export function errorData(err: unknown): ErrorData {
  if (err instanceof BerthError) return { code: err.code, name: err.name, message: err.message };
  return { code: 'INTERNAL', name: err instanceof Error ? err.name : 'Error', message: errorMessage(err) };
}

/**
 * The error `data` was made from: built by `rebuild[data.code]` when the receiver knows that
 * class, else a BerthError with the sender's code, name and message.
 */
export function rebuildError(data: ErrorData, rebuild: Record<string, () => BerthError> = {}): BerthError {
  const known = rebuild[data.code]?.();
  if (known) return known;
  const err = new BerthError(data.message, data.code);
  err.name = data.name;
  return err;
}

/** One problem in a manifest: where (file, document, field path) and why. */
export interface FieldIssue {
  /** Dotted field path, e.g. `spec.replicas` or `spec.ports[0].containerPort`. */
  path: string;
  reason: string;
  /** Where the object came from, e.g. `web.yaml[0]` or `web.yaml:7` (CLI), absent for API bodies. */
  source?: string;
  /** Position of the object in an API request's `items`. */
  index?: number;
}

export class ValidationError extends BerthError {
  override readonly code: string = 'INVALID';
  constructor(
    readonly issues: FieldIssue[],
    /** Where the object came from, e.g. `web.yaml[0]`; empty for API bodies. */
    readonly source = '',
  ) {
    super(formatIssues(issues, source));
  }
}

/** `web.yaml[0] spec.replicas: must be >= 0`, one line per issue. */
export function formatIssues(issues: FieldIssue[], source = ''): string {
  return issues
    .map((i) => {
      const where = [i.source ?? source, i.path].filter(Boolean).join(' ');
      return where ? `${where}: ${i.reason}` : i.reason;
    })
    .join('\n');
}

/** The message of anything thrown: an Error's message, else the value as a string. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : String(err);
}
