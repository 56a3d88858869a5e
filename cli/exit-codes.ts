// Exit codes of the client verbs: distinct per kind of failure so scripts can tell "the server is
// down" from "the object is missing" without parsing messages. `diff` keeps 1 for "changes"
// and maps a general failure to 2 (see diffExitCode).
import { ApiError, ConnectionError } from './api-client.js';
import { UsageError } from './command.js';

export const ExitCode = {
  Ok: 0,
  /** Any failure not listed below (invalid manifest, server-side error, ...). */
  Failure: 1,
  /** Wrong command line: unknown verb, kind or flag, missing argument. */
  Usage: 2,
  /** The server could not be reached (refused, host not found, timeout). */
  Unreachable: 3,
  /** The server rejected the token (401) or refused the request (403). */
  Unauthorized: 4,
  /** The named object does not exist (404). */
  NotFound: 5,
  /** A conflicting change: stale version or concurrent update (409). */
  Conflict: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const DiffExit = { NoChanges: 0, Changes: 1, Error: 2 } as const;

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return ExitCode.Usage;
  if (err instanceof ConnectionError) return ExitCode.Unreachable;
  if (err instanceof ApiError) {
    if (err.status === 401 || err.status === 403) return ExitCode.Unauthorized;
    if (err.status === 404) return ExitCode.NotFound;
    if (err.status === 409) return ExitCode.Conflict;
  }
  return ExitCode.Failure;
}

/** For `diff`, where 1 means "there are changes": a general failure becomes 2, the others stay. */
export function diffExitCode(err: unknown): number {
  const code = exitCodeFor(err);
  return code === ExitCode.Failure ? DiffExit.Error : code;
}
