// How the store's etcd client rides out an etcd outage or the loss of one member.
//
// Owns: the client's fault-handling policies (per member: a circuit breaker; per call: trying
// the other members), its watch reconnect backoff, and gRPC's own reconnect backoff and
// keepalive. Retrying a call over time is not done here: the controllers' work queue retries with
// backoff, and an API client gets a 503 and retries itself. With the etcd3 client's defaults
// (breaker open 5 s after 3 failures, three retries, watch reconnect backoff up to 30 s, gRPC
// reconnect backoff up to 120 s) writes went through seconds after etcd answered again (3.7 s in
// test/e2e/etcd-outage.test.ts), and a write to a frozen etcd waited for three 5 s deadlines;
// with these a write goes through within a second of etcd answering (under 100 ms measured).
import { ConsecutiveBreaker, ConstantBackoff, circuitBreaker, ExponentialBackoff, handleWhen, isBrokenCircuitError, noop, retry, wrap } from 'cockatiel';
import { GRPCCancelledError, GRPCUnavailableError, isRecoverableError, type IOptions } from 'etcd3';

/** A member whose call failed is skipped (its breaker open) for this long, then tried again. */
export const MEMBER_RETRY_MS = 500;
/** The longest wait before re-opening the watch stream (etcd3's default is 30 s). */
export const WATCH_RECONNECT_MAX_MS = 500;
/** gRPC's backoff between connection attempts to a member (its default grows to 120 s). */
export const RECONNECT_BACKOFF_MS = { initial: 100, max: 500 };

const unavailable = (err: Error): boolean => err instanceof GRPCUnavailableError && !isBrokenCircuitError(err);
/** A member's failure; not a stream this client cancelled itself (the client reports those too). */
const memberFailure = (err: Error): boolean => isRecoverableError(err) && !(err instanceof GRPCCancelledError);

/**
 * The client's `faultHandling`. Per member, a breaker opened by one failed call (unavailable,
 * timed out): calls meanwhile go to the other members, or, with none left, fail at once (never
 * sent, so never applied); after MEMBER_RETRY_MS one call tries the member again. Inside it, a
 * call the member refused as unavailable is tried once more after 10 ms (grpc-js refuses a call
 * made just as a stream on its channel ends; that must neither fail the call nor open the
 * breaker). Per call, a member that refused it is followed by each other member in turn; a call
 * that timed out is not sent again (etcd may have applied it).
 */
export function faultHandling(memberCount: number): NonNullable<IOptions['faultHandling']> {
  return {
    host: () =>
      wrap(
        circuitBreaker(handleWhen(memberFailure), { halfOpenAfter: MEMBER_RETRY_MS, breaker: new ConsecutiveBreaker(1) }),
        retry(handleWhen(unavailable), { maxAttempts: 1, backoff: new ConstantBackoff(10) }),
      ),
    global: memberCount > 1 ? retry(handleWhen(unavailable), { maxAttempts: memberCount - 1 }) : noop,
    // The client takes a backoff (it calls next() for each delay), not a factory of them.
    watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: WATCH_RECONNECT_MAX_MS }).next(),
  };
}

/**
 * gRPC channel options: reconnect backoff capped at RECONNECT_BACKOFF_MS.max; keepalive pings on
 * open streams, so a watch on a member that stopped answering (a frozen process, a lost host) is
 * given up and re-opened elsewhere (etcd refuses pings more often than every 5 s).
 */
export const channelOptions = {
  'grpc.initial_reconnect_backoff_ms': RECONNECT_BACKOFF_MS.initial,
  'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MS.max,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
} as const;
