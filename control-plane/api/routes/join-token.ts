// POST /v1/tokens/join/rotate and /v1/tokens/manager/rotate: replace the cluster's join token
// (agents) or manager token (servers joining). The new token is in the answer (the one place it
// is shown; it is never logged) and in the server's `<data-dir>/join-token` or `manager-token`;
// the old one is refused from now on. Nodes and servers that joined are not affected.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { errorBodySchema } from '../errors.js';

export interface JoinTokenRotation {
  /** Writes a new join token (its hash to etcd) and returns it. */
  rotate(): Promise<string>;
  /** The same for the manager token; without it that route is absent. */
  rotateManager?(): Promise<string>;
}

export function joinTokenRoutes(app: FastifyInstance, rotation: JoinTokenRotation, log: Logger): void {
  rotateRoute(app, log, {
    kind: 'join',
    summary: 'Replace the join token (nodes already joined are not affected); answers the new token, once',
    rotate: () => rotation.rotate(),
    message: 'the previous join token no longer works; nodes that joined keep their certificates',
  });
  const rotateManager = rotation.rotateManager?.bind(rotation);
  if (!rotateManager) return;
  rotateRoute(app, log, {
    kind: 'manager',
    summary: 'Replace the manager token (servers already joined are not affected); answers the new token, once',
    rotate: rotateManager,
    message: 'the previous manager token no longer lets servers join; servers that joined are not affected',
  });
}

/** `POST /v1/tokens/<kind>/rotate`: the new token in the answer, once; never logged. */
function rotateRoute(app: FastifyInstance, log: Logger, r: { kind: 'join' | 'manager'; summary: string; rotate: () => Promise<string>; message: string }): void {
  app.post(
    `/v1/tokens/${r.kind}/rotate`,
    {
      config: { permission: 'tokens:write' },
      schema: {
        summary: r.summary,
        tags: ['tokens'],
        response: {
          200: {
            type: 'object',
            required: ['token'],
            properties: { token: { type: 'string' }, message: { type: 'string' } },
          },
          401: errorBodySchema,
          403: errorBodySchema,
        },
      },
    },
    async () => {
      const token = await r.rotate();
      log.info(`${r.kind} token rotated`);
      return { token, message: r.message };
    },
  );
}
