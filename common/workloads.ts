// Volumes, secrets and configs of a service's spec: the rules both ends apply (the server at
// apply, the agent before it mounts anything). Owns: the bind-mount allow-list check, a secret's
// and a config's default target and file mode, the names they and volumes may have, the registry
// host of an image. Must not: touch the file system.
import path from 'node:path';
import type { ConfigRef, SecretRef, VolumeSpec } from './types.js';

/** Host paths a bind mount may use unless the node's operator configures otherwise. */
export const DEFAULT_BIND_ALLOW: readonly string[] = ['/srv', '/var/lib/berth-volumes'];

/** Secret and volume names: as Docker volume names, without the leading characters it forbids. */
export const SECRET_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';
export const VOLUME_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';

/** Largest secret value (bytes): etcd's default request limit is 1.5 MiB. */
export const MAX_SECRET_BYTES = 512 * 1024;

export const DEFAULT_SECRET_MODE = 0o400;
export const DEFAULT_CONFIG_MODE = 0o444;
export const SECRETS_DIR = '/run/secrets';

/** Whether `hostPath` (absolute) is one of `allow` or below one of them, after normalising `..`. */
export function bindAllowed(hostPath: string, allow: readonly string[]): boolean {
  if (!path.isAbsolute(hostPath)) return false;
  const p = path.resolve(hostPath);
  return allow.some((a) => {
    const root = path.resolve(a);
    return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
  });
}

/** Why a bind mount is refused under `allow`, or undefined when it is allowed. */
export function bindRefusal(hostPath: string, allow: readonly string[]): string | undefined {
  if (!path.isAbsolute(hostPath)) return `must be an absolute path (got ${JSON.stringify(hostPath)})`;
  if (bindAllowed(hostPath, allow)) return undefined;
  return `${hostPath} is outside the bind-mount allow-list (${allow.length ? allow.join(', ') : 'empty'}): only paths under it may be mounted`;
}

/** The kind of a volume entry: exactly one of name, hostPath, tmpfs. */
export function volumeKind(v: VolumeSpec): 'volume' | 'bind' | 'tmpfs' {
  return v.tmpfs ? 'tmpfs' : v.hostPath !== undefined ? 'bind' : 'volume';
}

/** Names of the named volumes a spec mounts. */
export function namedVolumes(volumes: readonly VolumeSpec[] | undefined): string[] {
  return (volumes ?? []).filter((v) => volumeKind(v) === 'volume' && v.name).map((v) => v.name!);
}

/** Where a secret is mounted in the container. */
export function secretTarget(ref: SecretRef): string {
  return ref.target ?? `${SECRETS_DIR}/${ref.source}`;
}

/** A secret's file mode: the integer, or octal digits in a string ("0400", "0o400"). */
export function secretMode(ref: SecretRef): number {
  return parseMode(ref.mode) ?? DEFAULT_SECRET_MODE;
}

/** Where a config is mounted in the container: `/<name>` unless `target` says (as Swarm). */
export function configTarget(ref: ConfigRef): string {
  return ref.target ?? `/${ref.source}`;
}

export function configMode(ref: ConfigRef): number {
  return parseMode(ref.mode) ?? DEFAULT_CONFIG_MODE;
}

/** A registry host and port as `berth registry login` takes it: `host[:port]`, lower case. */
export const REGISTRY_HOST_PATTERN = '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$';

/**
 * The registry an image is pulled from, as the Docker Engine reads the reference: its first
 * component when that has a dot or a port or is `localhost`; none for Docker Hub.
 */
export function imageRegistry(image: string): string | undefined {
  const slash = image.indexOf('/');
  if (slash < 0) return undefined;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first.toLowerCase() : undefined;
}

export function parseMode(mode: unknown): number | undefined {
  if (typeof mode === 'number') return Number.isInteger(mode) && mode >= 0 && mode <= 0o777 ? mode : undefined;
  if (typeof mode === 'string') {
    const m = /^(?:0o?)?([0-7]{1,3})$/.exec(mode);
    return m ? parseInt(m[1]!, 8) : undefined;
  }
  return undefined;
}

/**
 * Why a mode is refused, or undefined. YAML 1.2 reads `0400` as the decimal 400: a number of
 * octal digits from 400 up is taken for such a slip (modes 0o620 and above are rarely meant) and
 * refused with a hint to quote it ("0400") or write 0o400.
 */
export function modeRefusal(mode: unknown): string | undefined {
  if (typeof mode === 'number' && /^[0-7]{3}$/.test(String(mode)) && mode >= 400) {
    return `ambiguous mode ${mode}: YAML reads 0${mode} as the decimal ${mode}; write "0${mode}" (quoted octal) or 0o${mode}`;
  }
  if (parseMode(mode) === undefined) return `invalid file mode ${JSON.stringify(mode)} (use e.g. "0400" or 0o440)`;
  return undefined;
}
