// One error class per condition, with readonly context. `transient` marks errors worth retrying.

export class BerthError extends Error {
  readonly transient: boolean = false;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A conditional write lost against a newer version of the object. */
export class ConflictError extends BerthError {
  override readonly transient = true;
  constructor(
    readonly key: string,
    message = `conflict: ${key} was modified concurrently; re-read and retry`,
  ) {
    super(message);
  }
}

export class NotFoundError extends BerthError {
  constructor(
    readonly kind: string,
    readonly objectName: string,
  ) {
    super(`${kind} "${objectName}" not found`);
  }
}

export class StoreUnavailableError extends BerthError {
  override readonly transient = true;
  constructor(readonly detail: string) {
    super(`store unavailable: ${detail}`);
  }
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
