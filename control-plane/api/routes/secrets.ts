// /v1/secrets: create, list, update (rolls the services using the secret), remove. A value goes
// in (base64, in the body) and never comes out: answers carry name, size and times only.
import type { FastifyInstance } from 'fastify';
import { SECRET_NAME_PATTERN } from '../../../common/workloads.js';
import type { Secrets } from '../../secrets/secrets.js';
import { errorBodySchema } from '../errors.js';

const secretInfo = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    size: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    version: { type: 'integer' },
  },
} as const;
const labelsSchema = {
  type: 'object',
  maxProperties: 16,
  propertyNames: { type: 'string', pattern: '^[A-Za-z0-9]([-A-Za-z0-9_./]{0,251}[A-Za-z0-9])?$' },
  additionalProperties: { type: 'string', maxLength: 253 },
  description: 'Free-form labels (berth.stack: the stack that created it)',
} as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: SECRET_NAME_PATTERN } } } as const;
const valueBody = {
  type: 'object',
  required: ['value'],
  additionalProperties: false,
  properties: { value: { type: 'string', contentEncoding: 'base64', description: 'The value, base64' } },
} as const;

export function secretRoutes(app: FastifyInstance, secrets: Secrets): void {
  app.get(
    '/v1/secrets',
    {
      config: { permission: 'secrets:read' },
      schema: { summary: 'List secrets (names, sizes and times; never a value)', tags: ['secrets'], response: { 200: { type: 'object', properties: { items: { type: 'array', items: secretInfo } } }, ...errors } },
    },
    async () => ({ items: await secrets.list() }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/secrets/:name',
    {
      config: { permission: 'secrets:read' },
      schema: { summary: 'One secret (name, size and times; never its value)', tags: ['secrets'], params: nameParams, response: { 200: secretInfo, ...errors } },
    },
    async (req) => secrets.get(req.params.name),
  );

  app.post<{ Body: { name: string; value: string; labels?: Record<string, string> } }>(
    '/v1/secrets',
    {
      config: { permission: 'secrets:write' },
      schema: {
        summary: 'Create a secret: its value is encrypted before it is stored',
        tags: ['secrets'],
        body: { ...valueBody, required: ['name', 'value'], properties: { name: { type: 'string', pattern: SECRET_NAME_PATTERN }, ...valueBody.properties, labels: labelsSchema } },
        response: { 200: secretInfo, ...errors },
      },
    },
    async (req) => secrets.create(req.body.name, Buffer.from(req.body.value, 'base64'), req.body.labels),
  );

  app.put<{ Params: { name: string }; Body: { value: string } }>(
    '/v1/secrets/:name',
    {
      config: { permission: 'secrets:write' },
      schema: {
        summary: 'Replace a secret value; the services using it roll under their update policy (the same value changes nothing)',
        tags: ['secrets'],
        params: nameParams,
        body: valueBody,
        response: { 200: { type: 'object', properties: { secret: secretInfo, rolled: { type: 'array', items: { type: 'string' } } } }, ...errors },
      },
    },
    async (req) => secrets.update(req.params.name, Buffer.from(req.body.value, 'base64')),
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/secrets/:name',
    {
      config: { permission: 'secrets:write' },
      schema: {
        summary: 'Remove a secret (refused while a service uses it)',
        tags: ['secrets'],
        params: nameParams,
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors },
      },
    },
    async (req) => {
      await secrets.remove(req.params.name);
      return { name: req.params.name, removed: true };
    },
  );
}
