// Parsers of compose value syntaxes: ports, volume mounts, durations, byte sizes, env lists.
// Each returns the parsed value or throws an Error whose message is the reason (the caller
// adds file, line and path).
import type { PortSpec } from '../../common/types.js';

/** `1m30s`, `10s`, `500ms`, `2h`, `1.5s`, or a number of seconds -> seconds. */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const s = scalarText(v).trim();
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (!s || consumed !== s.length) throw new Error(`${JSON.stringify(v)} is not a valid duration (use e.g. 10s, 1m30s, 500ms)`);
  return Math.round(total * 1000) / 1000;
}

/** `128M`, `1.5G`, `512m`, `1024` (bytes), `1gb` -> bytes (binary units, as Docker reads them). */
export function parseByteSize(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(scalarText(v).trim());
  if (!m) throw new Error(`${JSON.stringify(v)} is not a valid size (use e.g. 128M, 1.5G)`);
  const pow = { '': 0, b: 0, k: 1, m: 2, g: 3, t: 4 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * 1024 ** pow);
}

/** Bytes as a Berth memory quantity: `128Mi` when exact, the number of bytes otherwise. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return scalarText(bytes);
}

export interface ComposePort extends PortSpec {
  hostIp?: string;
}

function portRange(text: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new Error(`${what} "${text}" is not a port number or range`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || hi < lo) throw new Error(`${what} "${text}" is out of range 1-65535`);
  return [lo, hi];
}

/** Short syntax `[HOST_IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]` (or a number). */
export function parseShortPort(v: string | number): ComposePort[] {
  const text = scalarText(v).trim();
  const bad = () => new Error(`${JSON.stringify(scalarText(v))} is not a valid port mapping`);
  let rest = text;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw new Error(`${JSON.stringify(text)}: protocol "${proto}" is not supported (tcp or udp)`);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1];
    rest = v6[2]!;
  }
  const parts = rest.split(':');
  if (parts.length > 3 || (v6 && parts.length > 2) || parts.some((p, i) => p === '' && !(i === 1 && parts.length === 3))) throw bad();
  if (parts.length === 3) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(parts[0]!)) throw bad();
    hostIp = parts[0];
  }
  const containerText = parts[parts.length - 1]!;
  const hostText = parts.length >= 2 ? parts[parts.length - 2]! : '';
  let container: [number, number];
  let host: [number, number] | undefined;
  try {
    container = portRange(containerText, 'container port');
    host = hostText ? portRange(hostText, 'host port') : undefined;
  } catch {
    throw bad();
  }
  const count = container[1] - container[0] + 1;
  if (host && host[1] - host[0] + 1 !== count && host[0] !== host[1]) throw new Error(`${JSON.stringify(text)}: host and container port ranges differ in size`);
  const out: ComposePort[] = [];
  for (let i = 0; i < count; i++) {
    const p: ComposePort = { containerPort: container[0] + i };
    if (host) p.hostPort = host[0] === host[1] && count > 1 ? host[0] : host[0] + i;
    if (protocol !== 'tcp') p.protocol = protocol;
    if (hostIp && hostIp !== '0.0.0.0') p.hostIp = hostIp;
    out.push(p);
  }
  return out;
}

export interface ShortVolume {
  source?: string;
  target: string;
  readOnly: boolean;
  kind: 'bind' | 'volume' | 'anonymous';
}

/** `[SOURCE:]TARGET[:MODE]`; a source starting with `/`, `.` or `~` is a bind mount. */
export function parseShortVolume(v: string): ShortVolume {
  const parts = v.split(':');
  // A Windows drive letter (C:\...) is not something a Linux node can mount.
  if (parts.length > 3 || parts.some((p) => p === '')) throw new Error(`${JSON.stringify(v)} is not a valid volume (use SOURCE:TARGET[:ro])`);
  if (parts.length === 1) return { target: parts[0]!, readOnly: false, kind: 'anonymous' };
  const [source, target, mode = ''] = parts as [string, string, string?];
  if (!target.startsWith('/')) throw new Error(`${JSON.stringify(v)}: the container path "${target}" must be absolute`);
  const flags = mode.split(',');
  const kind = /^[./~]/.test(source) ? 'bind' : 'volume';
  return { source, target, readOnly: flags.includes('ro'), kind };
}

/** environment / labels / sysctls in list (`K=V`, `K`) or map form; null values are taken from `lookup`. */
export function keyValues(v: unknown, lookup: (k: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = scalarText(item);
      const eq = s.indexOf('=');
      if (eq < 0) {
        const val = lookup(s);
        if (val !== undefined) out[s] = val;
      } else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) {
        const val = lookup(k);
        if (val !== undefined) out[k] = val;
      } else out[k] = typeof x === 'object' ? JSON.stringify(x) : scalarText(x);
    }
  } else if (v !== undefined && v !== null) {
    throw new Error('must be a list of KEY=VALUE or a mapping');
  }
  return out;
}

/** A command as a list: a string is split as a shell would split words (quotes honoured). */
export function commandList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string') throw new Error('must be a string or a list of strings');
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < v.length) cur += v[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < v.length) {
      cur += v[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (quote) throw new Error(`unterminated quote in ${JSON.stringify(v)}`);
  if (has || cur) out.push(cur);
  return out;
}

/** A scalar as text; anything else as JSON (for messages and lenient string fields). */
export function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? '';
}
