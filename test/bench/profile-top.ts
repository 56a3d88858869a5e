// Reads V8 .cpuprofile files (from `npm run bench -- --cpu-prof DIR`) and prints the functions
// with the most self time and the most total (inclusive) time, so a missed target can be traced
// to code rather than guessed.   npx tsx test/bench/profile-top.ts FILE.cpuprofile [N] [LAST_SECONDS]
// LAST_SECONDS keeps only the samples of the profile's last seconds (e.g. a run's placement phase,
// after its joins).
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url ? f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'npm:').replace(/.*\/work\/[^/]+\//, '') : '';
  return `${f.functionName || '(anonymous)'} ${file ? `${path.basename(path.dirname(file))}/${path.basename(file)}:${f.lineNumber + 1}` : ''}`.trim();
}

/** The profile restricted to its samples of the last `seconds` (the sample times are cumulative deltas). */
export function lastSeconds(p: Profile, seconds: number): Profile {
  const from = p.endTime - seconds * 1e6;
  let t = p.startTime;
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (t < from) return;
    samples.push(id);
    timeDeltas.push(p.timeDeltas[i] ?? 0);
  });
  return { ...p, samples, timeDeltas, startTime: Math.max(p.startTime, from) };
}

export function topFrames(p: Profile, n = 25): string {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    self.set(frameName(node), (self.get(frameName(node)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = frameName(byId.get(cur)!);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + us);
    }
  }
  const all = p.endTime - p.startTime;
  const idle = self.get('(idle)') ?? 0;
  const fmt = (m: Map<string, number>) =>
    [...m]
      .filter(([k]) => k !== '(idle)' && k !== '(root)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / (all - idle)).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return `profile ${(all / 1e6).toFixed(1)} s, busy ${((all - idle) / 1e6).toFixed(1)} s\n-- self --\n${fmt(self)}\n-- total --\n${fmt(total)}`;
}

if (process.argv[1] && path.basename(process.argv[1]).startsWith('profile-top')) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: profile-top.ts FILE.cpuprofile [N] [LAST_SECONDS]\n');
    process.exit(1);
  }
  const whole = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const last = process.argv[4] ? Number(process.argv[4]) : undefined;
  process.stdout.write(`${topFrames(last ? lastSeconds(whole, last) : whole, Number(process.argv[3] ?? 25))}\n`);
}
