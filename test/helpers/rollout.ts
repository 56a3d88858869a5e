// Helpers of the rolling-update end-to-end tests: a web service manifest with an HTTP health
// check, the service as the API shows it, and a sampler of its availability.
import assert from 'node:assert/strict';
import type { BerthEvent } from '../../common/events.js';
import type { Revision, UpdateStatus } from '../../common/rollout.js';
import type { Store } from '../../control-plane/store/store.js';
import type { Service, ServiceStatus, Task } from '../../common/types.js';
import type { TestServer } from './berth.js';
import { WEB_IMAGE } from './docker.js';
import { eventually } from './etcd.js';
import { startSampler as sampleEvery } from './sampler.js';

export type ServiceWithStatus = Service & { status: ServiceStatus & { desired: number } };

/** A berth/web service with an HTTP health check; `extra` lines are added under `spec:`. */
export function webManifest(name: string, opts: { replicas: number; greeting: string; update: string; extra?: string }): string {
  return `apiVersion: berth/v1
kind: Service
metadata:
  name: ${name}
spec:
  image: ${WEB_IMAGE}
  replicas: ${opts.replicas}
  stopGracePeriodSeconds: 1
  env:
    GREETING: "${opts.greeting}"
  resources:
    cpu: 50m
    memory: 16Mi
  update: ${opts.update}
  healthCheck:
    http: { port: 8080, path: /index.html }
    intervalSeconds: 0.5
    timeoutSeconds: 1
    failureThreshold: 2
${opts.extra ?? ''}`;
}

async function api<T>(server: TestServer, path: string): Promise<T> {
  const res = await server.fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export const getService = (server: TestServer, name: string) => api<ServiceWithStatus>(server, `/v1/services/${name}`);
export const getRevisions = (server: TestServer, name: string) => api<{ items: Revision[]; current: number }>(server, `/v1/services/${name}/revisions`);
export const getEvents = async (server: TestServer, name: string) => (await api<{ items: BerthEvent[] }>(server, `/v1/events?service=${name}`)).items;
export const getTasks = async (server: TestServer, name: string) => (await api<{ items: Task[] }>(server, `/v1/tasks?service=${name}`)).items;

export interface Sample {
  at: number;
  /** Live tasks that are ready (the service's `status.available`). */
  available: number;
  /** Live tasks (desired running, not ended). */
  live: number;
}

/** Reads the service through the API about every 100 ms until stopped. */
export function startSampler(server: TestServer, name: string): { stop(): Promise<Sample[]> } {
  return sampleEvery(async () => {
    const svc = await getService(server, name);
    return { available: svc.status.available ?? 0, live: svc.status.tasks ?? 0 };
  });
}

/** Live tasks of a service (desired running). */
export const liveTasks = (tasks: readonly Task[]) => tasks.filter((t) => t.desiredState === 'running' && !['complete', 'failed', 'shutdown', 'rejected', 'orphaned'].includes(t.status.state));

/**
 * Waits (90 s) for the rollout of `service` (its `updates/` record) to complete, then checks what
 * a rollout carried on by a new leader must leave: one step per slot, none repeated or skipped, no
 * failure, and in each of `slots` slots one live task on `command`, created once.
 */
export async function assertRolloutCompletedOncePerSlot(store: Store, service: string, slots: number, command: string[]): Promise<void> {
  const done = (await eventually(async () => {
    const u = await store.get<UpdateStatus>(`updates/${service}`);
    return u?.state === 'completed' ? u : undefined;
  }, 90_000, 'the rollout completed on the new leader'))!;
  assert.equal(done.steps, slots, 'one step per slot: none repeated, none skipped');
  assert.equal(done.failures, 0);
  const tasks = (await store.list<Task>(`tasks/${service}/`)).items;
  for (let slot = 1; slot <= slots; slot++) {
    const current = tasks.filter((t) => t.desiredState === 'running' && t.slot === slot);
    assert.equal(current.length, 1, `${service} slot ${slot}: one live task`);
    assert.deepEqual(current[0]!.spec.command, command, `${service} slot ${slot} runs the new spec`);
    assert.equal(tasks.filter((t) => t.slot === slot && t.spec.command?.[1] === command[1]).length, 1, `${service} slot ${slot} replaced once`);
  }
}
