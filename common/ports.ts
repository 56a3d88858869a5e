// Published ports (docs/networking.md, "Routing mesh"): what a service's `spec.ports[]` asks of
// the node it runs on (a host port) and of every node (an ingress port of the routing mesh).
import type { FieldIssue } from './errors.js';
import type { IngressPort, PortSpec, ServiceSpec } from './types.js';

/** The port's mode: `ingress` when it has a publishedPort and says nothing, else `host`. */
export function portMode(p: PortSpec): 'ingress' | 'host' {
  return p.mode ?? (p.publishedPort !== undefined ? 'ingress' : 'host');
}

/** The port bound on the task's own node (0 or undefined: none, or any free one). */
export function hostPortOf(p: PortSpec): number | undefined {
  if (portMode(p) === 'ingress') return undefined;
  return p.hostPort || p.publishedPort;
}

/** `PORT/PROTOCOL`, the key a published port is known by. */
export function portKey(port: number, protocol: string | undefined): string {
  return `${port}/${protocol ?? 'tcp'}`;
}

/** The ingress ports of a spec, as the nodes open them. */
export function ingressPorts(spec: Pick<ServiceSpec, 'ports'>): IngressPort[] {
  return (spec.ports ?? [])
    .filter((p) => portMode(p) === 'ingress' && p.publishedPort !== undefined)
    .map((p) => ({ publishedPort: p.publishedPort!, targetPort: p.containerPort, protocol: p.protocol ?? 'tcp', proxyProtocol: p.proxyProtocol === true }));
}

/** Rules of one service's published ports (the schema checks the ranges). */
export function publishedPortIssues(ports: readonly PortSpec[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Map<string, number>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    const mode = portMode(p);
    if (mode === 'ingress') {
      if (p.publishedPort === undefined) issues.push({ path: `${at}.publishedPort`, reason: 'required with mode ingress (the port opened on every node)' });
      if (p.hostPort) issues.push({ path: `${at}.hostPort`, reason: 'only with mode host (an ingress port is publishedPort, on every node)' });
      if (p.hostIp !== undefined) issues.push({ path: `${at}.hostIp`, reason: 'only with mode host (an ingress port answers on every address of every node)' });
    } else {
      if (p.proxyProtocol) issues.push({ path: `${at}.proxyProtocol`, reason: 'only with mode ingress (the routing mesh adds the header)' });
      if (p.hostPort && p.publishedPort !== undefined && p.hostPort !== p.publishedPort) {
        issues.push({ path: `${at}.publishedPort`, reason: `differs from hostPort ${p.hostPort} (with mode host they name the same port: give one)` });
      }
    }
    if (mode === 'ingress' && p.publishedPort !== undefined) {
      const key = portKey(p.publishedPort, p.protocol);
      const first = seen.get(key);
      if (first !== undefined) issues.push({ path: `${at}.publishedPort`, reason: `published port ${key} already used by spec.ports[${first}]` });
      else seen.set(key, i);
    }
  });
  return issues;
}

/**
 * A published port of `ports` that another service already has: on every node for an ingress port,
 * so it clashes with any other service's ingress port or host port of the same number.
 */
export function publishedPortClashes(
  ports: readonly PortSpec[],
  others: readonly { name: string; ports: readonly PortSpec[] }[],
): FieldIssue[] {
  const taken = new Map<string, { name: string; mode: string }>();
  for (const o of others) {
    for (const p of o.ports) {
      const mode = portMode(p);
      const port = mode === 'ingress' ? p.publishedPort : hostPortOf(p);
      if (port) taken.set(`${mode}:${portKey(port, p.protocol)}`, { name: o.name, mode });
    }
  }
  const issues: FieldIssue[] = [];
  ports.forEach((p, i) => {
    const mode = portMode(p);
    const port = mode === 'ingress' ? p.publishedPort : hostPortOf(p);
    if (!port) return;
    const key = portKey(port, p.protocol);
    // An ingress port is open on every node: any other use of the number clashes. A host port only clashes with an ingress one.
    const clash = taken.get(`ingress:${key}`) ?? (mode === 'ingress' ? taken.get(`host:${key}`) : undefined);
    if (clash) {
      issues.push({
        path: `spec.ports[${i}].${mode === 'ingress' || !p.hostPort ? 'publishedPort' : 'hostPort'}`,
        reason: `port ${key} is already published by service "${clash.name}" (${clash.mode === 'ingress' ? 'on every node' : 'as a host port'})`,
      });
    }
  });
  return issues;
}
