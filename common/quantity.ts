// Resource quantities as users write them (`250m`, `0.5`, `64Mi`, `1G`) and as the system counts
// them (CPU millicores, memory bytes). Parsing returns undefined for anything malformed so the
// validator can name the field.

/** `250m` -> 250, `0.5` -> 500, `2` -> 2000 (millicores). */
export function parseCpu(text: string | number): number | undefined {
  const s = String(text).trim();
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]);
  const milli = m[2] === 'm' ? n : n * 1000;
  if (!Number.isFinite(milli) || milli <= 0) return undefined;
  return Math.round(milli);
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** `64Mi` -> 67108864, `1G` -> 1e9, `512000` -> 512000 (bytes). */
export function parseMemory(text: string | number): number | undefined {
  const s = String(text).trim();
  const m = /^(\d+(?:\.\d+)?)([kKMGT]i?|)$/.exec(s);
  if (!m) return undefined;
  const unit = MEMORY_UNITS[m[2] ?? ''];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return bytes > 0 ? bytes : undefined;
}

export function formatCpu(millicores: number): string {
  return millicores % 1000 === 0 ? String(millicores / 1000) : `${millicores}m`;
}

export function formatMemory(bytes: number): string {
  const units: [string, number][] = [
    ['Ti', 1024 ** 4],
    ['Gi', 1024 ** 3],
    ['Mi', 1024 ** 2],
    ['Ki', 1024],
  ];
  for (const [u, size] of units) {
    if (bytes >= size) {
      const v = bytes / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)}${u}`;
    }
  }
  return String(bytes);
}

/** Resource requests of a spec in system units; absent requests count as zero. */
export function requestsOf(resources: { cpu?: string; memory?: string } | undefined): { cpu: number; memory: number } {
  return {
    cpu: resources?.cpu ? (parseCpu(resources.cpu) ?? 0) : 0,
    memory: resources?.memory ? (parseMemory(resources.memory) ?? 0) : 0,
  };
}
