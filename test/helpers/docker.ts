// Real Docker Engine helpers for tests: the example images, a node name unique to the test run
// (every container a test creates carries it in `berth.node`, so cleanup removes exactly those),
// and the docker CLI as an independent witness of what the Engine holds.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServiceSpec, Task } from '../../common/types.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const BUSYBOX_IMAGE = 'berth/busybox:latest';
export const WEB_IMAGE = 'berth/web:latest';
/** A TCP/UDP server on 9000 answering with the client's address and a PROXY v2 header's (deploy/images/peer). */
export const PEER_IMAGE = 'berth/peer:latest';

/** Runs the docker CLI and returns its trimmed stdout. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export async function imageExists(ref: string): Promise<boolean> {
  try {
    await docker('image', 'inspect', ref);
    return true;
  } catch {
    return false;
  }
}

/** Builds berth/busybox and berth/web if they are missing (deploy/build-images.sh is idempotent). */
export async function ensureTestImages(): Promise<void> {
  if ((await imageExists(BUSYBOX_IMAGE)) && (await imageExists(WEB_IMAGE)) && (await imageExists(PEER_IMAGE))) return;
  await run(path.join(repoRoot, 'deploy/build-images.sh'), [], { maxBuffer: 16 * 1024 * 1024 });
}

/** A node name no other test run uses. */
export function testNodeName(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Ids of every container labelled with this node name (only the running ones with `running`). */
export async function containersOfNode(nodeName: string, opts: { running?: boolean } = {}): Promise<string[]> {
  const out = await docker('ps', ...(opts.running ? [] : ['-a']), '-q', '--no-trunc', '--filter', `label=berth.node=${nodeName}`);
  return out ? out.split('\n') : [];
}

/** Removes every container of each of these nodes; never throws (for after hooks). */
export async function removeContainersOfNodes(nodeNames: readonly string[]): Promise<void> {
  for (const name of nodeNames) await removeContainersOfNode(name).catch(() => undefined);
}

/** Removes every container labelled with this node name. */
export async function removeContainersOfNode(nodeName: string): Promise<void> {
  const ids = await containersOfNode(nodeName);
  if (ids.length) await docker('rm', '-f', '-v', ...ids);
}

/** The fields of `docker inspect` the tests look at. */
export interface ContainerInspection {
  Id: string;
  Name: string;
  Config: { Entrypoint: string[] | null; Cmd: string[] | null; Labels: Record<string, string> };
  HostConfig: { Memory: number; NanoCpus: number };
  State: { Running: boolean; ExitCode: number };
}

export async function inspectContainer(id: string): Promise<ContainerInspection> {
  const out = await docker('inspect', id);
  const [c] = JSON.parse(out) as ContainerInspection[];
  if (!c) throw new Error(`docker inspect ${id}: no such container`);
  return c;
}

let seq = 0;

/** A task as the control plane would assign it, in state `assigned`. */
export function makeTask(spec: Partial<ServiceSpec> & { image?: string }, opts: { service?: string; slot?: number } = {}): Task {
  seq += 1;
  const service = opts.service ?? 'svc';
  const slot = opts.slot ?? seq;
  const suffix = randomBytes(4).toString('hex');
  const now = new Date().toISOString();
  return {
    id: `t${suffix}${seq}`,
    name: `${service}.${slot}.${suffix}`,
    serviceName: service,
    slot,
    serviceVersion: 1,
    spec: { image: BUSYBOX_IMAGE, ...spec },
    desiredState: 'running',
    status: { state: 'assigned', timestamp: now },
    createdAt: now,
  };
}

/** A shell script as a spec for both drivers: the process driver ignores the image. */
export function shellSpec(script: string, extra: Partial<ServiceSpec> = {}): Partial<ServiceSpec> {
  return { command: ['/bin/sh', '-c'], args: [script], ...extra };
}
