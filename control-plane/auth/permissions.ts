// The permission table: what each role may do. Every API route declares the one permission it
// needs (`config: { permission }`, control-plane/api/access.ts); a role may call a route when
// its set below holds that permission. A route that declares none is refused to every role, and
// a permission no role lists (a new one) is granted to none but those it is added to here.
import { Role } from '../../common/access.js';
import type { WatchKind } from '../../common/watch.js';

export const Permission = {
  ServicesRead: 'services:read',
  ServicesWrite: 'services:write',
  TasksRead: 'tasks:read',
  /** Task output may print what the workload reads (configuration, credentials). */
  TasksLogs: 'tasks:logs',
  TasksExec: 'tasks:exec',
  NodesRead: 'nodes:read',
  NodesWrite: 'nodes:write',
  EventsRead: 'events:read',
  /** The control-plane servers and which one leads. */
  ServersRead: 'servers:read',
  /** A server leaving, a stopped one removed (admin only). */
  ServersWrite: 'servers:write',
  TokensRead: 'tokens:read',
  TokensWrite: 'tokens:write',
  AuditRead: 'audit:read',
  /** Secrets' names and metadata (never a value: no route returns one). */
  SecretsRead: 'secrets:read',
  SecretsWrite: 'secrets:write',
  /** Configs, values included (configs are not secret). */
  ConfigsRead: 'configs:read',
  ConfigsWrite: 'configs:write',
  /** The API's own description (OpenAPI). */
  MetaRead: 'meta:read',
  /** `GET /metrics` (Prometheus): counts and timings, no object's content. */
  MetricsRead: 'metrics:read',
  /** `GET /v1/usage/*`: CPU and memory the tasks use (`berth top`). */
  UsageRead: 'usage:read',
  /** A sealed backup of the cluster: its CA key, tokens and secrets key (admin only). */
  ClusterBackup: 'cluster:backup',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

/** What a route declares: a permission, or `public` (no token at all: health checks). */
export type RoutePermission = Permission | 'public';
export const PUBLIC = 'public' as const;

export const ALL_PERMISSIONS: readonly Permission[] = Object.values(Permission);

// Secrets: `secrets:read` (names and metadata) in VIEWER, `secrets:write` in OPERATOR (hence
// admin); no permission reads a value back. Each role's list names what it may do, so a
// permission not listed for the viewer is withheld from it.
const VIEWER: readonly Permission[] = [
  Permission.ServicesRead,
  Permission.TasksRead,
  Permission.NodesRead,
  Permission.EventsRead,
  Permission.ServersRead,
  Permission.MetaRead,
  Permission.SecretsRead,
  Permission.ConfigsRead,
  Permission.MetricsRead,
  Permission.UsageRead,
];

const OPERATOR: readonly Permission[] = [
  ...VIEWER,
  Permission.ServicesWrite,
  Permission.TasksLogs,
  Permission.TasksExec,
  Permission.AuditRead,
  Permission.SecretsWrite,
  Permission.ConfigsWrite,
];

export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  [Role.Viewer]: new Set(VIEWER),
  [Role.Operator]: new Set(OPERATOR),
  [Role.Admin]: new Set(ALL_PERMISSIONS),
};

export function can(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role]?.has(permission) ?? false;
}

/** The permission a watch of `kind` needs (`GET /v1/watch`): reading that kind. */
export function watchPermission(kind: WatchKind): Permission {
  const byKind: Record<WatchKind, Permission> = {
    services: Permission.ServicesRead,
    tasks: Permission.TasksRead,
    nodes: Permission.NodesRead,
    events: Permission.EventsRead,
  };
  return byKind[kind];
}

/** The message of a refusal (403). */
export function lacksMessage(role: Role, permission: string): string {
  return `role ${role} lacks permission ${permission}`;
}
