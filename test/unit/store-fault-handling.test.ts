// The store's etcd client fault handling and errors: a member's breaker opens on one failure and
// lets a call through again after MEMBER_RETRY_MS, a refused call is tried once more, a stream
// the client cancelled is no failure; errors tell "never sent" from "not answered in time".
import assert from 'node:assert/strict';
import { BrokenCircuitError } from 'cockatiel';
import { GRPCCancelledError, GRPCDeadlineExceededError, GRPCInvalidArgumentError, GRPCUnavailableError, GRPCUnknownError } from 'etcd3';
import { StoreUnavailableError } from '../../common/errors.js';
import { faultHandling, MEMBER_RETRY_MS } from '../../control-plane/store/fault-handling.js';
import { storeError, StoreNotAnsweringError, StoreTimeoutError } from '../../control-plane/store/unavailable.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A member's policy, and a call through it that fails with `errors` in turn, then answers. */
function member() {
  const policy = faultHandling(1).host!('127.0.0.1:2379');
  let calls = 0;
  const call = (errors: Error[]) =>
    policy.execute(() => {
      calls++;
      const err = errors.shift();
      return err ? Promise.reject(err) : Promise.resolve('ok');
    });
  return { call, calls: () => calls };
}

describe('store fault handling', () => {
  it('tries a call refused as unavailable once more on the same member', async () => {
    const m = member();
    assert.equal(await m.call([new GRPCUnavailableError('14 UNAVAILABLE')]), 'ok');
    assert.equal(m.calls(), 2);
    // The breaker did not open: the next call goes through.
    assert.equal(await m.call([]), 'ok');
  });

  it('opens the breaker on a failure, refuses calls unsent, and lets one through after MEMBER_RETRY_MS', async () => {
    const m = member();
    await assert.rejects(m.call([new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')]), GRPCDeadlineExceededError);
    const before = m.calls();
    await assert.rejects(m.call([]), BrokenCircuitError);
    assert.equal(m.calls(), before, 'refused without being sent');
    await sleep(MEMBER_RETRY_MS + 50);
    assert.equal(await m.call([]), 'ok');
    assert.equal(await m.call([]), 'ok');
  });

  it('does not count a stream the client cancelled as a failure of the member', async () => {
    const m = member();
    await assert.rejects(m.call([new GRPCCancelledError('1 CANCELLED')]), GRPCCancelledError);
    assert.equal(await m.call([]), 'ok');
  });

  it('with several members, a call a member refused goes to the next one', async () => {
    const global = faultHandling(3).global!;
    let attempts = 0;
    const res = await global.execute(() => (++attempts < 3 ? Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE')) : Promise.resolve('ok')));
    assert.equal(res, 'ok');
    assert.equal(attempts, 3);
    // A timed-out call is not sent again: etcd may have applied it.
    attempts = 0;
    await assert.rejects(global.execute(() => (attempts++, Promise.reject(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')))));
    assert.equal(attempts, 1);
  });

  it('tells a call etcd never took from one it did not answer in time', () => {
    for (const err of [new GRPCUnavailableError('14 UNAVAILABLE'), new BrokenCircuitError()]) {
      const e = storeError(err);
      assert.ok(e instanceof StoreNotAnsweringError);
      assert.match(e.message, /not answering; nothing was changed, retry later/);
      assert.equal(e.code, 'UNAVAILABLE');
    }
    // The client's deadline, or a member without quorum answering with it when it passed.
    for (const err of [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), new GRPCUnknownError('2 UNKNOWN: context deadline exceeded')]) {
      const timeout = storeError(err);
      assert.ok(timeout instanceof StoreTimeoutError);
      assert.match(timeout.message, /may or may not have been made/);
    }
    const other = storeError(new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: too large'));
    assert.ok(other instanceof StoreUnavailableError && !(other instanceof StoreNotAnsweringError));
    assert.match(other.message, /too large/);
  });
});
