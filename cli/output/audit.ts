// `get audit`: one row per audited call, oldest first.
import { auditResult, type AuditEntry } from '../../common/audit.js';
import { NONE } from './table.js';
import type { TableView } from './views.js';

export function auditView(items: readonly AuditEntry[]): TableView {
  return {
    headers: ['TIME', 'TOKEN', 'ROLE', 'SOURCE', 'VERB', 'OBJECT', 'RESULT'],
    rows: items.map((e) => [
      e.time.replace(/\.\d+Z$/, 'Z'),
      e.token || NONE,
      e.role || NONE,
      e.source,
      e.dryRun ? `${e.verb} (dry run)` : e.verb,
      e.objects.length ? e.objects.join(',') : NONE,
      auditResult(e),
    ]),
  };
}
