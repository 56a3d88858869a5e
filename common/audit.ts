// Audit entries as the API answers them (`GET /v1/audit`) and the CLI shows them
// (`berth get audit`). Recorded by control-plane/audit/.

export interface AuditEntry {
  /** Time-ordered: `<ms since epoch, 14 digits>-<sequence>-<process suffix>`. */
  id: string;
  /** When the call arrived (RFC 3339). */
  time: string;
  /** The caller's token name ('' when the call carried no valid token); never the token. */
  token: string;
  /** The caller's role ('' when the call carried no valid token). */
  role: string;
  /** The client's address as the server saw it. */
  source: string;
  /** Method and route pattern, e.g. `POST /v1/services/:name/scale`. */
  verb: string;
  /** `kind/name` of each object the call named (several for an apply). */
  objects: string[];
  /** The HTTP status of the answer. */
  status: number;
  /** The caller's role lacks the route's permission (status 403). */
  refused?: boolean;
  /** For apply: the changed field paths per object (`service/web: [spec.replicas]`); never values. */
  changed?: Record<string, string[]>;
  dryRun?: boolean;
  /** The store version of the entry's batch: `GET /v1/audit?fromVersion=` continues after it. */
  version?: number;
}

/** How entries are stored: the entries of one flush under one key. */
export interface StoredAudit {
  items: AuditEntry[];
  version?: number;
}

/** The RESULT column: `refused` for a call the role did not allow, else the HTTP status. */
export function auditResult(e: Pick<AuditEntry, 'status' | 'refused'>): string {
  return e.refused ? 'refused' : String(e.status);
}
