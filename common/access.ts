// API tokens and roles as the API answers and the CLI shows them: shared by the control plane
// (control-plane/auth/) and the CLI (`berth token`). The permission table itself is the
// control plane's (control-plane/auth/permissions.ts).

export const Role = { Admin: 'admin', Operator: 'operator', Viewer: 'viewer' } as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = [Role.Viewer, Role.Operator, Role.Admin];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** The name of the built-in token (the cluster's admin token, `<data-dir>/admin-token`). */
export const BUILTIN_ADMIN_TOKEN = 'admin';

/** Names of API tokens: a DNS label, as service names. */
export const TOKEN_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';

/** A token as `GET /v1/tokens` shows it: never the token, never its hash. */
export interface ApiTokenInfo {
  name: string;
  role: Role;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
  /** The cluster's admin token: cannot be revoked. */
  builtin?: boolean;
}

/** The answer to `POST /v1/tokens`: the only time the token is ever shown. */
export interface CreatedApiToken extends ApiTokenInfo {
  token: string;
}
