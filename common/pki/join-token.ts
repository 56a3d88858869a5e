// The join token's format: `BERTH-1-<sha256 hex of the cluster CA's DER>-<secret>`. The digest
// lets a joining agent check it talks to this cluster's control plane before it sends the
// secret; the secret is what the control plane checks (etcd keeps only its hash).
export const JOIN_TOKEN_VERSION = 'BERTH-1';

const FORMAT = /^BERTH-1-([0-9a-f]{64})-([A-Za-z0-9_-]{16,})$/;

export interface ParsedJoinToken {
  caDigest: string;
  secret: string;
}

export function formatJoinToken(caDigest: string, secret: string): string {
  return `${JOIN_TOKEN_VERSION}-${caDigest}-${secret}`;
}

/** The token's parts, or undefined if it is not in the form above. */
export function parseJoinToken(token: string): ParsedJoinToken | undefined {
  const m = FORMAT.exec(token.trim());
  return m ? { caDigest: m[1]!, secret: m[2]! } : undefined;
}
