// What a failed etcd call means for its caller. Owns: turning the etcd client's errors into the
// store's errors, with a message a user can act on: a call etcd never received ("nothing was
// changed, retry later") is told apart from one it did not answer in time (a write may have been
// applied: read it back). Each is a StoreUnavailableError (a 503 for API clients, a retry with
// backoff for controllers).
import { isBrokenCircuitError } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCUnavailableError, GRPCUnknownError } from 'etcd3';
import { errorMessage, StoreUnavailableError } from '../../common/errors.js';

/** etcd did not take the call: no member reachable, or every member's breaker open. Nothing was applied. */
export class StoreNotAnsweringError extends StoreUnavailableError {
  constructor(detail: string) {
    super(detail);
    this.message = 'the cluster store (etcd) is not answering; nothing was changed, retry later';
  }
}

/** etcd took the call but did not answer before its deadline: a write may or may not have been applied. */
export class StoreTimeoutError extends StoreUnavailableError {
  constructor(detail: string) {
    super(detail);
    this.message = 'the cluster store (etcd) did not answer in time; the change may or may not have been made: read it back, then retry';
  }
}

/** The store's error for a failed etcd call. */
export function storeError(err: unknown): StoreUnavailableError {
  const detail = errorMessage(err);
  // A member that lost its quorum holds a write until the call's deadline and answers with the
  // deadline as an unknown error: the same outcome as a deadline the client saw itself.
  if (err instanceof GRPCDeadlineExceededError || (err instanceof GRPCUnknownError && /context deadline exceeded/.test(detail))) return new StoreTimeoutError(detail);
  if (err instanceof GRPCUnavailableError || (err instanceof Error && isBrokenCircuitError(err))) return new StoreNotAnsweringError(detail);
  return new StoreUnavailableError(detail);
}

/** Whether `err` says etcd is not answering (not a conflict, a missing object or a bad request). */
export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof StoreUnavailableError;
}
