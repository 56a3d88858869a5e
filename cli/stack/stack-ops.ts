// `berth stack deploy|ls|services|ps|rm`: a stack's services through the existing API, found by
// their `berth.stack` label. Owns: what is sent and what is shown; conversion is compose-*.ts.
import { serviceSchema } from '../../common/manifest/schema.js';
import type { Service, Task } from '../../common/types.js';
import type { ApiClient, ApplyResult, ServiceView } from '../api-client.js';
import { CliError } from '../command.js';
import { formatAge } from '../output/age.js';
import { NONE, renderTable } from '../output/table.js';
import { desiredOf, replicasCell } from '../output/views.js';
import { STACK_LABEL, STACK_SERVICE_LABEL, type Conversion } from './compose-convert.js';
import { createSecrets, removeSecrets, removeStackVolumes, stackSecrets, updateSecrets, type StackObjectsPlan } from './stack-objects.js';

/** One apply writes its service, revision and rollout per changed service within one transaction. */
export const MAX_SERVICES_PER_DEPLOY = 42;

/** The converted services as this server's schema knows them; fields it lacks are errors, except networks (a warning). */
export function deployable(c: Conversion, warn: (line: string) => void): Service[] {
  const known = new Set(Object.keys(serviceSchema.properties.spec.properties));
  const errors: string[] = [];
  let networksDropped = false;
  const out = c.services.map((svc) => {
    const spec: Record<string, unknown> = { ...svc.spec };
    for (const key of Object.keys(spec)) {
      // The stack's networks are not created by deploy (yet): its services stay on the default network.
      if (known.has(key) && key !== 'networks') continue;
      if (key === 'networks') networksDropped = true;
      else errors.push(`service ${svc.metadata.name}: spec.${key} cannot be deployed: this cluster has no ${key} yet`);
      delete spec[key];
    }
    return { ...svc, spec } as unknown as Service;
  });
  if (errors.length) throw new CliError(`nothing deployed:\n${errors.join('\n')}`);
  if (networksDropped) warn('warning: networks: not applied: stack deploy does not create the stack\'s networks yet (its services share the default network)');
  for (const o of c.objects) {
    if (o.kind === 'Volume' && !o.external && (o.driver || o.driverOpts)) warn(`warning: volumes.driver (volume ${o.composeName}): not applied: named volumes use the node's local driver`);
  }
  if (out.length > MAX_SERVICES_PER_DEPLOY) {
    throw new CliError(`nothing deployed: a stack deploys at most ${MAX_SERVICES_PER_DEPLOY} services at once (all or nothing), this one has ${out.length}`);
  }
  return out;
}

export async function deployStack(
  client: ApiClient,
  stack: string,
  services: Service[],
  opts: { prune: boolean; out: (l: string) => void; objects?: StackObjectsPlan },
): Promise<{ results: ApplyResult[]; removed: string[]; left: string[] }> {
  const before = await stackServices(client, stack);
  const objects = opts.objects ?? { create: [], update: [] };
  // The secrets first (the services need them); a failed apply takes back the ones created here.
  const created = await createSecrets(client, stack, objects, opts.out);
  let results: ApplyResult[];
  try {
    results = (await client.apply(services)).items;
  } catch (err) {
    const left = await removeSecrets(client, created, opts.out);
    if (left.length) throw new CliError(`${(err as Error).message}\nand the secrets created for it could not all be removed:\n${left.join('\n')}`);
    throw err;
  }
  for (const r of results) opts.out(`service/${r.name} ${r.action}`);
  await updateSecrets(client, objects, opts.out);
  const wanted = new Set(services.map((s) => s.metadata.name));
  const gone = before.filter((s) => !wanted.has(s.metadata.name)).map((s) => s.metadata.name);
  const removed: string[] = [];
  for (const name of gone) {
    if (!opts.prune) {
      opts.out(`service/${name} is no longer in the stack's files (kept; --prune deletes it)`);
      continue;
    }
    await client.deleteService(name);
    removed.push(name);
    opts.out(`service/${name} deleted`);
  }
  return { results, removed, left: opts.prune ? [] : gone };
}

export async function stackServices(client: ApiClient, stack: string): Promise<ServiceView[]> {
  return (await client.listServices()).filter((s) => s.metadata.labels?.[STACK_LABEL] === stack);
}

export async function stacksTable(client: ApiClient, now: number): Promise<string> {
  const byStack = new Map<string, ServiceView[]>();
  for (const s of await client.listServices()) {
    const name = s.metadata.labels?.[STACK_LABEL];
    if (name) byStack.set(name, [...(byStack.get(name) ?? []), s]);
  }
  const rows = [...byStack.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, svcs]) => {
      const running = svcs.reduce((n, s) => n + (s.status?.running ?? 0), 0);
      const desired = svcs.reduce((n, s) => n + (s.spec.mode === 'job' ? 0 : desiredOf(s)), 0);
      const oldest = svcs.map((s) => s.metadata.createdAt ?? '').filter(Boolean).sort()[0];
      return [name, String(svcs.length), `${running}/${desired}`, formatAge(oldest, now)];
    });
  return renderTable(['NAME', 'SERVICES', 'TASKS', 'AGE'], rows);
}

export function servicesTable(svcs: readonly ServiceView[], now: number): string {
  const rows = [...svcs]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((s) => [s.metadata.name, s.metadata.labels?.[STACK_SERVICE_LABEL] ?? NONE, s.spec.mode ?? 'replicated', replicasCell(s), s.spec.image, formatAge(s.metadata.createdAt, now)]);
  return renderTable(['NAME', 'COMPOSE SERVICE', 'MODE', 'REPLICAS', 'IMAGE', 'AGE'], rows);
}

export async function tasksTable(client: ApiClient, svcs: readonly ServiceView[], now: number): Promise<string> {
  const tasks: Task[] = [];
  for (const s of svcs) tasks.push(...(await client.listTasks({ service: s.metadata.name })));
  const nodes = await client.nodeNames(tasks);
  const rows = tasks
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => [t.name, t.serviceName, t.nodeId ? (nodes.get(t.nodeId) ?? t.nodeId) : NONE, t.desiredState, t.status.state, formatAge(t.status.timestamp, now)]);
  return renderTable(['TASK', 'SERVICE', 'NODE', 'DESIRED', 'STATE', 'SINCE'], rows);
}

/**
 * Deletes the stack's services, then the secrets it created (not external ones), then with
 * `volumes` the named volumes its services created, once their tasks let go of them.
 */
export async function removeStack(client: ApiClient, stack: string, out: (l: string) => void, opts: { volumes?: boolean } = {}): Promise<number> {
  const svcs = await stackServices(client, stack);
  const secrets = await stackSecrets(client, stack);
  if (!svcs.length && !secrets.length) throw new CliError(`stack "${stack}" not found (no service or secret labelled ${STACK_LABEL}=${stack})`);
  const failures: string[] = [];
  for (const s of svcs) {
    try {
      await client.deleteService(s.metadata.name);
      out(`service/${s.metadata.name} deleted`);
    } catch (err) {
      failures.push(`service/${s.metadata.name}: ${(err as Error).message}`);
    }
  }
  failures.push(...(await removeSecrets(client, secrets, out)));
  if (opts.volumes) failures.push(...(await removeStackVolumes(client, svcs.map((s) => s.metadata.name), out)));
  if (failures.length) throw new CliError(`not everything was removed:\n${failures.join('\n')}`);
  return svcs.length;
}
