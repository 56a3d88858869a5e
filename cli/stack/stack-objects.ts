// A stack's secrets and named volumes around `stack deploy` and `stack rm`.
// Owns: checking, before anything is written, that every secret value can be read (files relative
// to the compose file, or the deploying environment) and that every `external: true` secret and
// volume exists; creating the stack's secrets (labelled `berth.stack=<stack>`) and taking them
// back when the deploy fails; updating their values on a later deploy; removing them with the
// stack, and the stack's volumes when asked.
// Must not: convert compose keys (compose-*.ts) or apply services (stack-ops.ts).
// Named volumes are Berth's: created on the node of the first task that mounts them, so a deploy
// creates none itself. Configs wait for the cluster's configs (see deployable in stack-ops.ts).
import { readFileSync } from 'node:fs';
import { SECRET_NAME_PATTERN } from '../../common/workloads.js';
import type { SecretInfo } from '../../common/types.js';
import { ApiError, type ApiClient } from '../api-client.js';
import { CliError } from '../command.js';
import { STACK_LABEL, type Conversion, type StackObject } from './compose-convert.js';

export interface SecretValue {
  name: string;
  value: Buffer;
}

/** What a deploy writes besides its services: secrets to create, and the stack's own to update. */
export interface StackObjectsPlan {
  create: SecretValue[];
  update: SecretValue[];
}

interface VolumeRow {
  name: string;
  node: string;
  nodeId: string;
  service?: string;
  inUse: boolean;
}

export interface PlanOptions {
  env: Record<string, string | undefined>;
  readFile?: (file: string) => Buffer;
}

/**
 * Reads every secret value the stack's services use and checks the external secrets and volumes;
 * throws one CliError listing every problem (nothing written, nothing read from the server beyond
 * the lists of secrets and volumes).
 */
export async function planStackObjects(client: ApiClient, stack: string, c: Conversion, opts: PlanOptions): Promise<StackObjectsPlan> {
  const readFile = opts.readFile ?? ((f: string) => readFileSync(f));
  const problems: string[] = [];
  const used = new Set(c.services.flatMap((s) => (s.spec.secrets ?? []).map((r) => r.source)));
  const mounted = new Set(c.services.flatMap((s) => (s.spec.volumes ?? []).flatMap((v) => ('name' in v ? [v.name] : []))));
  const secrets = c.objects.filter((o) => o.kind === 'Secret' && used.has(o.name));
  const existing = new Map((await client.request<{ items: SecretInfo[] }>('GET', '/v1/secrets')).items.map((s) => [s.name, s]));
  const plan: StackObjectsPlan = { create: [], update: [] };
  for (const o of secrets) {
    const have = existing.get(o.name);
    if (o.external) {
      if (!have) problems.push(`secret ${o.composeName}: external secret "${o.name}" does not exist (create it with berth secret create ${o.name} -f FILE)`);
      continue;
    }
    if (!new RegExp(SECRET_NAME_PATTERN).test(o.name)) {
      problems.push(`secret ${o.composeName}: "${o.name}" is not a valid secret name (letters, digits, "_", ".", "-", up to 128)`);
      continue;
    }
    const value = readValue(o, opts.env, readFile, problems);
    if (!value) continue;
    if (!have) plan.create.push({ name: o.name, value });
    else if (have.labels?.[STACK_LABEL] === stack) plan.update.push({ name: o.name, value });
    else problems.push(`secret ${o.composeName}: a secret named "${o.name}" exists and is not this stack's (declare it external: true to use it)`);
  }
  const externalVolumes = c.objects.filter((o) => o.kind === 'Volume' && o.external && mounted.has(o.name));
  if (externalVolumes.length) {
    const onNodes = new Set((await client.request<{ items: VolumeRow[] }>('GET', '/v1/volumes')).items.map((v) => v.name));
    for (const o of externalVolumes) {
      if (!onNodes.has(o.name)) problems.push(`volume ${o.composeName}: external volume "${o.name}" does not exist on any node`);
    }
  }
  if (problems.length) throw new CliError(`nothing deployed:\n${problems.join('\n')}`);
  return plan;
}

function readValue(o: StackObject, env: Record<string, string | undefined>, readFile: (f: string) => Buffer, problems: string[]): Buffer | undefined {
  if (o.file) {
    try {
      return readFile(o.file);
    } catch (err) {
      problems.push(`secret ${o.composeName}: cannot read file ${o.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  if (o.environment) {
    const v = env[o.environment];
    if (v === undefined) problems.push(`secret ${o.composeName}: environment variable ${o.environment} is not set`);
    return v === undefined ? undefined : Buffer.from(v);
  }
  problems.push(`secret ${o.composeName}: needs file: or environment:`);
  return undefined;
}

/** Creates the plan's secrets, labelled with the stack; on a failure removes those it created and throws. */
export async function createSecrets(client: ApiClient, stack: string, plan: StackObjectsPlan, out: (l: string) => void): Promise<string[]> {
  const created: string[] = [];
  try {
    for (const s of plan.create) {
      await client.request('POST', '/v1/secrets', { name: s.name, value: s.value.toString('base64'), labels: { [STACK_LABEL]: stack } });
      created.push(s.name);
      out(`secret/${s.name} created`);
    }
  } catch (err) {
    await removeSecrets(client, created, () => undefined);
    throw err;
  }
  return created;
}

/** Removes secrets, best effort (a deploy taking back what it created); returns the failures. */
export async function removeSecrets(client: ApiClient, names: readonly string[], out: (l: string) => void): Promise<string[]> {
  const failures: string[] = [];
  for (const name of names) {
    try {
      await client.request('DELETE', `/v1/secrets/${encodeURIComponent(name)}`);
      out(`secret/${name} removed`);
    } catch (err) {
      failures.push(`secret/${name}: ${(err as Error).message}`);
    }
  }
  return failures;
}

/** New values of the stack's own secrets (the same value changes nothing; a new one rolls its services). */
export async function updateSecrets(client: ApiClient, plan: StackObjectsPlan, out: (l: string) => void): Promise<void> {
  for (const s of plan.update) {
    const res = await client.request<{ secret: SecretInfo; rolled: string[] }>('PUT', `/v1/secrets/${encodeURIComponent(s.name)}`, { value: s.value.toString('base64') });
    if (res.rolled.length) out(`secret/${s.name} updated; rolling ${res.rolled.map((n) => `service/${n}`).join(', ')}`);
  }
}

/** The secrets a stack created (labelled with it). */
export async function stackSecrets(client: ApiClient, stack: string): Promise<string[]> {
  return (await client.request<{ items: SecretInfo[] }>('GET', '/v1/secrets')).items.filter((s) => s.labels?.[STACK_LABEL] === stack).map((s) => s.name);
}

/**
 * Removes the named volumes the stack's services created (the `service` a node reports for a
 * volume), once no task uses them: a volume still in use is retried until `timeoutMs`.
 */
export async function removeStackVolumes(
  client: ApiClient,
  services: readonly string[],
  out: (l: string) => void,
  opts: { timeoutMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<string[]> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const mine = new Set(services);
  const volumes = (await client.request<{ items: VolumeRow[] }>('GET', '/v1/volumes')).items.filter((v) => v.service && mine.has(v.service));
  const failures: string[] = [];
  for (const v of volumes) {
    for (;;) {
      try {
        await client.request('DELETE', `/v1/volumes/${encodeURIComponent(v.name)}?node=${encodeURIComponent(v.nodeId)}`);
        out(`volume/${v.name} removed from node ${v.node}`);
        break;
      } catch (err) {
        // In use until the deleted services' containers are gone.
        if (err instanceof ApiError && err.status === 409 && Date.now() < deadline) {
          await sleep(500);
          continue;
        }
        failures.push(`volume/${v.name} on ${v.node}: ${(err as Error).message}`);
        break;
      }
    }
  }
  return failures;
}
