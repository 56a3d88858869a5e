// POST /v1/cluster/backup: a sealed backup of the cluster (control-plane/backup/), admin only and
// audited. The passphrase comes in the body (over TLS) and is used once, never logged or kept;
// the answer is the sealed file, so the CA key, the tokens and the secrets key never leave the
// server in clear, not even to the CLI that asked.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { MIN_PASSPHRASE_LENGTH } from '../../../common/backup.js';
import { errorBodySchema } from '../errors.js';

export interface ClusterBackup {
  write(passphrase: string): Promise<Buffer>;
}

export function backupRoutes(app: FastifyInstance, backup: ClusterBackup, log: Logger): void {
  app.post<{ Body: { passphrase: string } }>(
    '/v1/cluster/backup',
    {
      config: { permission: 'cluster:backup' },
      schema: {
        summary: 'A backup of the cluster (etcd keys at one revision, the CA, tokens and secrets key), encrypted with the passphrase; the answer is the file',
        tags: ['cluster'],
        body: {
          type: 'object',
          required: ['passphrase'],
          additionalProperties: false,
          properties: { passphrase: { type: 'string', minLength: MIN_PASSPHRASE_LENGTH, maxLength: 4096 } },
        },
        response: { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema },
      },
    },
    async (req, reply) => {
      const sealed = await backup.write(req.body.passphrase);
      log.info({ bytes: sealed.length }, 'backup taken');
      return reply.type('application/octet-stream').header('content-disposition', 'attachment; filename="berth.bbk"').send(sealed);
    },
  );
}
