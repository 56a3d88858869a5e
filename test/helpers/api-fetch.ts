// Calling a real server's HTTPS API from tests: a fetch that trusts the server's cluster CA (read
// from its data dir's `ca.crt`), the same fetch the CLI uses (cli/tls.ts). One per CA.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fetchWithCa } from '../../cli/tls.js';

const byCa = new Map<string, typeof fetch>();

/** fetch trusting `caPem`. */
export function caFetch(caPem: string): typeof fetch {
  let f = byCa.get(caPem);
  if (!f) byCa.set(caPem, (f = fetchWithCa(caPem)));
  return f;
}

/**
 * fetch trusting the CA of the server whose data dir is `dataDir`: its `ca.crt`, read at the first
 * call (the server may not have made it yet when this is asked for).
 */
export function apiFetch(dataDir: string): typeof fetch {
  let f: typeof fetch | undefined;
  return ((input: string | URL, init?: RequestInit) => {
    f ??= caFetch(readFileSync(path.join(dataDir, 'ca.crt'), 'utf8'));
    return f(input, init);
  }) as typeof fetch;
}
