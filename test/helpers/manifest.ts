// Service manifests the end-to-end tests apply: a service from its `spec:` lines, and a busybox
// sleeper (the workload most tests place, scale and kill). Only the fields given are written, so a
// test's service is exactly the one it describes.
import { BUSYBOX_IMAGE } from './docker.js';

/** A Service named `name` whose spec is `body` (YAML lines, indented under `spec:` here). */
export function serviceManifest(name: string, body: string): string {
  return `apiVersion: berth/v1
kind: Service
metadata:
  name: ${name}
spec:
${body
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}

export interface SleeperOptions {
  replicas: number;
  /** `sleep SECONDS`; default 3600. */
  seconds?: number;
  stopGracePeriodSeconds?: number;
  cpu?: string;
  memory?: string;
  /** More spec lines (unindented, as under `spec:`). */
  extra?: readonly string[];
}

/** A busybox service running `sleep`, with only the given fields set. */
export function sleeperManifest(name: string, opts: SleeperOptions): string {
  const resources = [...(opts.cpu ? [`  cpu: ${opts.cpu}`] : []), ...(opts.memory ? [`  memory: ${opts.memory}`] : [])];
  return serviceManifest(
    name,
    [
      `image: ${BUSYBOX_IMAGE}`,
      `command: ["sleep", "${opts.seconds ?? 3600}"]`,
      `replicas: ${opts.replicas}`,
      ...(opts.stopGracePeriodSeconds !== undefined ? [`stopGracePeriodSeconds: ${opts.stopGracePeriodSeconds}`] : []),
      ...(resources.length ? ['resources:', ...resources] : []),
      ...(opts.extra ?? []),
    ].join('\n'),
  );
}
