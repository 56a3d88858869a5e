// Berth's version (printed by `berth version`, announced by every agent): the package's own,
// found by walking up from this file, which works both from source (common/) and from the
// build (dist/common/).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function clientVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'berth' && pkg.version) return pkg.version;
    } catch {
      // not here: keep walking up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

/** MAJOR.MINOR.PATCH of a release; undefined for anything else (a development build). */
export function parseVersion(v: string): { major: number; minor: number; patch: number } | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(v.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

/**
 * Whether a server of `serverVersion` accepts an agent of `agentVersion`: the same major version,
 * and the server's minor version or the one before it (agents are upgraded after the servers). An
 * agent newer than the server is refused, as one two minor versions older is. Undefined when
 * accepted; else the reason, naming both versions. Versions that are not MAJOR.MINOR.PATCH
 * (development builds) are not checked.
 */
export function agentVersionProblem(serverVersion: string, agentVersion: string): string | undefined {
  const s = parseVersion(serverVersion);
  const a = parseVersion(agentVersion);
  if (!s || !a) return undefined;
  const tooNew = a.major > s.major || (a.major === s.major && a.minor > s.minor);
  const tooOld = a.major < s.major || (a.major === s.major && a.minor < s.minor - 1);
  const rule = `a server accepts agents of its own minor version and of the one before (${s.major}.${Math.max(0, s.minor - 1)}.x to ${s.major}.${s.minor}.x)`;
  if (tooNew) return `agent version ${agentVersion} is too new for server version ${serverVersion}: upgrade the servers first; ${rule}`;
  if (tooOld) return `agent version ${agentVersion} is too old for server version ${serverVersion}: upgrade the agent; ${rule}`;
  return undefined;
}
