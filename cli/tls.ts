// The client's side of the API's TLS: a fetch that trusts the configured cluster CA (undici's own
// fetch with an Agent whose connections verify against that CA, name checked as always), and how
// a failed verification is told to the user. Verification is never turned off.
import type { Agent, fetch as undiciFetch } from 'undici';

/**
 * fetch whose HTTPS connections trust `caPem` (and only it). undici is loaded at the first call,
 * so commands that never reach the server do not pay for loading it.
 */
export function fetchWithCa(caPem: string): typeof fetch {
  let ready: Promise<{ fetch: typeof undiciFetch; dispatcher: Agent }> | undefined;
  return (async (input: string | URL, init?: RequestInit) => {
    ready ??= import('undici').then((u) => ({ fetch: u.fetch, dispatcher: new u.Agent({ connect: { ca: caPem } }) }));
    const { fetch: f, dispatcher } = await ready;
    return f(input, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher });
  }) as unknown as typeof fetch;
}

/** OpenSSL's codes for a certificate chain that does not lead to a trusted CA. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** The TLS verification failure (its code) under an error of fetch or ws, if that is what it is. */
export function tlsVerifyCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (UNTRUSTED.has(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code.startsWith('CERT_'))) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The line a user reads when the server's certificate failed verification. */
export function tlsVerifyMessage(server: string, code: string, caSource: string | undefined): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `cannot verify the server at ${server}: its certificate does not name this host (add it with the server's --tls-san) [${code}]`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `cannot verify the server at ${server}: its certificate is not valid now (check the clocks) [${code}]`;
  }
  const ca = caSource
    ? `the configured CA (${caSource})`
    : 'a CA this client trusts (the config has no certificate-authority-data: pass --certificate-authority FILE or set $BERTH_CA_FILE to the server\'s ca.crt)';
  return `cannot verify the server at ${server}: its certificate is not signed by ${ca} [${code}]`;
}
