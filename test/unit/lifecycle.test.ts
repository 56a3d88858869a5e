// Start in order, stop in reverse, and nothing started during a stop outlives it.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Lifecycle } from '../../control-plane/lifecycle.js';

const silent = pino({ level: 'silent' });

describe('lifecycle', () => {
  it('stops in reverse order of start, once, and goes on past a failing stop', async () => {
    const life = new Lifecycle(silent);
    const order: string[] = [];
    life.onStop('etcd', () => void order.push('etcd'));
    life.onStop('dispatcher', () => {
      order.push('dispatcher');
      throw new Error('boom');
    });
    life.onStop('api', async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('api');
    });
    await Promise.all([life.stop(), life.stop()]);
    await life.done;
    assert.deepEqual(order, ['api', 'dispatcher', 'etcd']);
  });

  it('a step that finished starting after the stop (a signal during start-up) is stopped at once', async () => {
    const life = new Lifecycle(silent);
    const order: string[] = [];
    life.onStop('etcd', () => void order.push('etcd'));
    await life.stop();
    let undone!: () => void;
    const lateStopped = new Promise<void>((r) => (undone = r));
    life.onStop('api', () => {
      order.push('api');
      undone();
    });
    const timeout = new Promise<void>((_, reject) => setTimeout(() => reject(new Error('the late step was never stopped')), 1000).unref());
    await Promise.race([lateStopped, timeout]);
    assert.deepEqual(order, ['etcd', 'api']);
  });
});
