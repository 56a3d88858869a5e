// When `rollout status` / `apply --wait` call a rollout done, failed or still going, from the
// service as the API (or its watch) shows it.
import assert from 'node:assert/strict';
import type { ServiceView } from '../../cli/api-client.js';
import { outcomeOf, RolloutOutcome } from '../../cli/rollout-wait.js';

function svc(revision: number, status: ServiceView['status']): ServiceView {
  return { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web', revision, version: 10 }, spec: { image: 'web', replicas: 3 }, ...(status ? { status } : {}) };
}

describe('rollout outcome', () => {
  it('a rollout record of the service revision decides: completed, or paused / failed / rolled back', () => {
    const counts = { desired: 3, upToDate: 3, available: 3 };
    assert.equal(outcomeOf(svc(2, { ...counts, update: { state: 'completed', message: '', revision: 2 } })), RolloutOutcome.Complete);
    assert.equal(outcomeOf(svc(2, { ...counts, update: { state: 'updating', message: '', revision: 2 } })), undefined);
    for (const state of ['paused', 'failed', 'rolled-back']) {
      assert.equal(outcomeOf(svc(2, { ...counts, update: { state, message: '', revision: 2 } })), RolloutOutcome.Failed, state);
    }
  });

  it('a completed record of an older revision is not the new revision done (its record has not arrived yet)', () => {
    const stale = svc(3, { desired: 3, upToDate: 3, available: 3, update: { state: 'completed', message: 'revision 2 rolled out', revision: 2 } });
    assert.equal(outcomeOf(stale), undefined);
  });

  it('without a rollout record: done once every replica is available and up to date', () => {
    assert.equal(outcomeOf(svc(1, { desired: 3, upToDate: 3, available: 3 })), RolloutOutcome.Complete);
    assert.equal(outcomeOf(svc(1, { desired: 3, upToDate: 2, available: 3 })), undefined);
    assert.equal(outcomeOf(svc(1, { desired: 3, upToDate: 3, available: 2 })), undefined);
  });
});
