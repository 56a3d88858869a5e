// /v1/secrets and /v1/configs: create, list, update (rolls the services using the file), remove;
// one set of routes for both kinds. A secret's value goes in (base64, in the body) and never comes
// out: answers carry name, size and times only. A config's value is read back by GET /v1/configs/NAME.
// /v1/registries: credentials of private registries (the password goes in, never out).
import type { FastifyInstance } from 'fastify';
import { REGISTRY_HOST_PATTERN, SECRET_NAME_PATTERN } from '../../../common/workloads.js';
import type { Permission } from '../../auth/permissions.js';
import type { Configs } from '../../secrets/configs.js';
import type { FileStore } from '../../secrets/file-store.js';
import type { Registries } from '../../secrets/registries.js';
import type { Secrets } from '../../secrets/secrets.js';
import { errorBodySchema } from '../errors.js';

const fileInfo = {
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

interface FileRoutes<K> {
  /** `secret`, `config`. */
  kind: string;
  files: FileStore<K>;
  read: Permission;
  write: Permission;
  /** GET of one: the answer (a config's carries its value). */
  one(name: string): Promise<unknown>;
  oneSchema: object;
  /** What is said of values in the summaries. */
  note: string;
}

function fileRoutes<K>(app: FastifyInstance, r: FileRoutes<K>): void {
  const plural = `${r.kind}s`;
  const tags = [plural];
  app.get(
    `/v1/${plural}`,
    {
      config: { permission: r.read },
      schema: { summary: `List ${plural} (names, sizes and times)`, tags, response: { 200: { type: 'object', properties: { items: { type: 'array', items: fileInfo } } }, ...errors } },
    },
    async () => ({ items: await r.files.list() }),
  );

  app.get<{ Params: { name: string } }>(
    `/v1/${plural}/:name`,
    { config: { permission: r.read }, schema: { summary: `One ${r.kind} (${r.note})`, tags, params: nameParams, response: { 200: r.oneSchema, ...errors } } },
    async (req) => r.one(req.params.name),
  );

  app.post<{ Body: { name: string; value: string; labels?: Record<string, string> } }>(
    `/v1/${plural}`,
    {
      config: { permission: r.write },
      schema: {
        summary: `Create a ${r.kind}`,
        tags,
        body: { ...valueBody, required: ['name', 'value'], properties: { name: { type: 'string', pattern: SECRET_NAME_PATTERN }, ...valueBody.properties, labels: labelsSchema } },
        response: { 200: fileInfo, ...errors },
      },
    },
    async (req) => r.files.create(req.body.name, Buffer.from(req.body.value, 'base64'), req.body.labels),
  );

  app.put<{ Params: { name: string }; Body: { value: string } }>(
    `/v1/${plural}/:name`,
    {
      config: { permission: r.write },
      schema: {
        summary: `Replace a ${r.kind}'s value; the services using it roll under their update policy (the same value changes nothing)`,
        tags,
        params: nameParams,
        body: valueBody,
        response: { 200: { type: 'object', properties: { [r.kind]: fileInfo, rolled: { type: 'array', items: { type: 'string' } } } }, ...errors },
      },
    },
    async (req) => {
      const res = await r.files.update(req.params.name, Buffer.from(req.body.value, 'base64'));
      return { [r.kind]: res.info, rolled: res.rolled };
    },
  );

  app.delete<{ Params: { name: string } }>(
    `/v1/${plural}/:name`,
    {
      config: { permission: r.write },
      schema: {
        summary: `Remove a ${r.kind} (refused while a service uses it)`,
        tags,
        params: nameParams,
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors },
      },
    },
    async (req) => {
      await r.files.remove(req.params.name);
      return { name: req.params.name, removed: true };
    },
  );
}

export function secretRoutes(app: FastifyInstance, secrets: Secrets): void {
  fileRoutes(app, { kind: 'secret', files: secrets, read: 'secrets:read', write: 'secrets:write', one: (n) => secrets.get(n), oneSchema: fileInfo, note: 'name, size and times; never its value' });
}

export function configRoutes(app: FastifyInstance, configs: Configs): void {
  fileRoutes(app, {
    kind: 'config',
    files: configs,
    read: 'configs:read',
    write: 'configs:write',
    one: (n) => configs.inspect(n),
    oneSchema: { type: 'object', properties: { ...fileInfo.properties, value: { type: 'string', description: 'The value, base64' } } },
    note: 'with its value, base64: configs are not secret',
  });
}

const registryInfo = {
  type: 'object',
  properties: { host: { type: 'string' }, username: { type: 'string' }, createdAt: { type: 'string' }, updatedAt: { type: 'string' } },
} as const;
const hostParams = { type: 'object', required: ['host'], properties: { host: { type: 'string', pattern: REGISTRY_HOST_PATTERN } } } as const;

/** Registry credentials are secrets: the secrets permissions, sealed with the secrets key. */
export function registryRoutes(app: FastifyInstance, registries: Registries): void {
  const tags = ['registries'];
  app.get(
    '/v1/registries',
    {
      config: { permission: 'secrets:read' },
      schema: { summary: 'Registries with credentials (host and user; never a password)', tags, response: { 200: { type: 'object', properties: { items: { type: 'array', items: registryInfo } } }, ...errors } },
    },
    async () => ({ items: await registries.list() }),
  );
  app.put<{ Params: { host: string }; Body: { username: string; password: string } }>(
    '/v1/registries/:host',
    {
      config: { permission: 'secrets:write' },
      schema: {
        summary: 'Store the credentials of a registry (the password is encrypted like a secret)',
        tags,
        params: hostParams,
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: { username: { type: 'string', minLength: 1, maxLength: 256 }, password: { type: 'string', contentEncoding: 'base64', description: 'The password, base64' } },
        },
        response: { 200: registryInfo, ...errors },
      },
    },
    async (req) => registries.login(req.params.host, req.body.username, Buffer.from(req.body.password, 'base64')),
  );
  app.delete<{ Params: { host: string } }>(
    '/v1/registries/:host',
    {
      config: { permission: 'secrets:write' },
      schema: { summary: 'Forget the credentials of a registry', tags, params: hostParams, response: { 200: { type: 'object', properties: { host: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors } },
    },
    async (req) => {
      await registries.logout(req.params.host);
      return { host: req.params.host, removed: true };
    },
  );
}
