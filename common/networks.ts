// Networks (docs/networking.md, "Networks that isolate"): a service is on the networks its spec
// names, or on the default network when it names none; a task resolves and reaches only the
// services that share one of its networks.
import type { ServiceSpec } from './types.js';

/** The network of every service that names none; always there, never stored, never removed. */
export const DEFAULT_NETWORK = 'default';
export const NETWORK_NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,62}$';

/** The networks a service is on. */
export function serviceNetworks(spec: Pick<ServiceSpec, 'networks'>): string[] {
  return spec.networks?.length ? [...spec.networks] : [DEFAULT_NETWORK];
}

/** Why `name` cannot be a network's name, or undefined when it can. */
export function networkNameRefusal(name: string): string | undefined {
  if (!new RegExp(NETWORK_NAME_PATTERN).test(name)) return `"${name}" is not a network name (lower-case letters, digits, '.', '_', '-'; at most 63, starting with a letter or digit)`;
  if (name === DEFAULT_NETWORK) return `"${DEFAULT_NETWORK}" is the network of services that name none; it always exists`;
  return undefined;
}
