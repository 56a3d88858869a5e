// JSON Schema of a Service manifest: the one source of the field names, types and bounds.
// The API serves it in its OpenAPI document and both the CLI and the API validate with it;
// rules that a schema says badly (quantities, constraints, "exactly one probe") live in
// validate.ts.

import { NETWORK_NAME_PATTERN } from '../networks.js';
import { SECRET_NAME_PATTERN, VOLUME_NAME_PATTERN } from '../workloads.js';

const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const seconds = { type: 'number', minimum: 0 } as const;
// A Linux capability as Docker takes it: `NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`.
const capability = { type: 'string', pattern: '^(CAP_)?[A-Z_]+$' } as const;
// A label value as Kubernetes allows: up to 63 characters, alphanumerics, `-`, `_`, `.`.
const labelMap = {
  type: 'object',
  propertyNames: { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$' },
  additionalProperties: { type: 'string', maxLength: 63 },
} as const;

const containerPath = { type: 'string', pattern: '^/', maxLength: 4096 } as const;
/** spec.secrets and spec.configs: a name, and where and with which mode the file is mounted. */
const fileRefs = {
  type: 'array',
  items: {
    type: 'object',
    required: ['source'],
    additionalProperties: false,
    properties: {
      source: { type: 'string', pattern: SECRET_NAME_PATTERN },
      target: containerPath,
      mode: { type: ['integer', 'string'] },
    },
  },
} as const;

export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const serviceSchema = {
  $id: 'Service',
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { type: 'string', const: 'berth/v1' },
    kind: { type: 'string', const: 'Service' },
    metadata: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 63, pattern: DNS_LABEL_RE.source },
        labels: labelMap,
        version: { type: 'integer', minimum: 1, description: 'Send back to make the update conditional.' },
        createdAt: { type: 'string' },
        updatedAt: { type: 'string' },
        revision: { type: 'integer', minimum: 1, description: 'Set by the server: the revision the spec is.' },
        restartedAt: { type: 'string', description: 'Set by the server: the last `rollout restart`.' },
      },
    },
    spec: {
      type: 'object',
      required: ['image'],
      additionalProperties: false,
      properties: {
        mode: { type: 'string', enum: ['replicated', 'global', 'job'] },
        replicas: { type: 'integer', minimum: 0, maximum: 100000 },
        completions: { type: 'integer', minimum: 1, maximum: 100000 },
        parallelism: { type: 'integer', minimum: 1, maximum: 100000 },
        image: { type: 'string', minLength: 1, maxLength: 512, pattern: '^[^\\s]+$' },
        command: { type: 'array', items: { type: 'string' } },
        args: { type: 'array', items: { type: 'string' } },
        env: {
          type: 'object',
          propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' },
          additionalProperties: { type: 'string' },
        },
        ports: {
          type: 'array',
          items: {
            type: 'object',
            required: ['containerPort'],
            additionalProperties: false,
            properties: {
              containerPort: port,
              hostPort: { type: 'integer', minimum: 0, maximum: 65535 },
              protocol: { type: 'string', enum: ['tcp', 'udp'] },
              hostIp: { type: 'string', minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f.:]+$' },
              publishedPort: { type: 'integer', minimum: 1, maximum: 65535 },
              mode: { type: 'string', enum: ['ingress', 'host'] },
              proxyProtocol: { type: 'boolean' },
            },
          },
        },
        resources: {
          type: 'object',
          additionalProperties: false,
          properties: { cpu: { type: ['string', 'number'] }, memory: { type: ['string', 'number'] } },
        },
        healthCheck: {
          type: 'object',
          additionalProperties: false,
          properties: {
            http: {
              type: 'object',
              required: ['port'],
              additionalProperties: false,
              properties: { path: { type: 'string', pattern: '^/' }, port },
            },
            tcp: { type: 'object', required: ['port'], additionalProperties: false, properties: { port } },
            exec: {
              type: 'object',
              required: ['command'],
              additionalProperties: false,
              properties: { command: { type: 'array', minItems: 1, items: { type: 'string' } } },
            },
            intervalSeconds: { type: 'number', exclusiveMinimum: 0 },
            timeoutSeconds: { type: 'number', exclusiveMinimum: 0 },
            failureThreshold: { type: 'integer', minimum: 1 },
            startPeriodSeconds: seconds,
          },
        },
        restartPolicy: {
          type: 'object',
          additionalProperties: false,
          properties: {
            condition: { type: 'string', enum: ['any', 'on-failure', 'none'] },
            delaySeconds: seconds,
            maxAttempts: { type: 'integer', minimum: 0 },
          },
        },
        placement: {
          type: 'object',
          additionalProperties: false,
          properties: {
            constraints: { type: 'array', items: { type: 'string' } },
            maxPerNode: { type: 'integer', minimum: 0 },
          },
        },
        update: {
          type: 'object',
          additionalProperties: false,
          properties: {
            parallelism: { type: 'integer', minimum: 0 },
            delaySeconds: seconds,
            monitorSeconds: seconds,
            maxFailureRatio: { type: 'number', minimum: 0, maximum: 1 },
            failureAction: { type: 'string', enum: ['pause', 'rollback', 'continue'] },
            order: { type: 'string', enum: ['stop-first', 'start-first'] },
            progressDeadlineSeconds: seconds,
          },
        },
        revisionHistoryLimit: { type: 'integer', minimum: 1, maximum: 1000 },
        stopGracePeriodSeconds: seconds,
        pullPolicy: { type: 'string', enum: ['always', 'if-not-present', 'never'] },
        volumes: {
          type: 'array',
          items: {
            type: 'object',
            required: ['target'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', pattern: VOLUME_NAME_PATTERN },
              hostPath: { type: 'string', minLength: 1 },
              tmpfs: { type: 'boolean' },
              target: containerPath,
              readOnly: { type: 'boolean' },
              sizeBytes: { type: 'integer', minimum: 1 },
            },
          },
        },
        networks: { type: 'array', uniqueItems: true, maxItems: 16, items: { type: 'string', pattern: NETWORK_NAME_PATTERN } },
        secrets: fileRefs,
        configs: fileRefs,
        user: { type: 'string', minLength: 1, maxLength: 256 },
        workingDir: { type: 'string', pattern: '^/' },
        hostname: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$' },
        dnsSearch: { type: 'array', maxItems: 6, items: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' } },
        init: { type: 'boolean' },
        tty: { type: 'boolean' },
        readOnly: { type: 'boolean' },
        capAdd: { type: 'array', items: capability },
        capDrop: { type: 'array', items: capability },
        sysctls: { type: 'object', propertyNames: { pattern: '^[a-z0-9_]+(\\.[A-Za-z0-9_*-]+)+$' }, additionalProperties: { type: 'string' } },
        ulimits: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'soft', 'hard'],
            additionalProperties: false,
            properties: { name: { type: 'string', pattern: '^[a-z]+$' }, soft: { type: 'integer', minimum: -1 }, hard: { type: 'integer', minimum: -1 } },
          },
        },
        stopSignal: { type: 'string', pattern: '^(SIG[A-Z0-9+-]+|[A-Z0-9+-]+|[0-9]+)$' },
        logging: {
          type: 'object',
          required: ['driver'],
          additionalProperties: false,
          properties: { driver: { type: 'string', minLength: 1 }, options: { type: 'object', additionalProperties: { type: 'string' } } },
        },
        containerLabels: { type: 'object', additionalProperties: { type: 'string' } },
        dependsOn: {
          type: 'array',
          items: {
            type: 'object',
            required: ['service'],
            additionalProperties: false,
            properties: { service: { type: 'string', minLength: 1 }, condition: { type: 'string', enum: ['started', 'healthy', 'completed'] } },
          },
        },
      },
    },
    status: { type: 'object' },
  },
} as const;

/** Defaults applied where a spec is consumed (the stored spec stays as the user wrote it). */
export const SPEC_DEFAULTS = {
  mode: 'replicated',
  replicas: 1,
  protocol: 'tcp',
  healthCheck: { intervalSeconds: 10, timeoutSeconds: 5, failureThreshold: 3, startPeriodSeconds: 0, httpPath: '/' },
  restartPolicy: { condition: 'any', delaySeconds: 0, maxAttempts: 0 },
  placement: { maxPerNode: 0 },
  update: { parallelism: 1, delaySeconds: 0, monitorSeconds: 5, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
  revisionHistoryLimit: 10,
  stopGracePeriodSeconds: 10,
  pullPolicy: 'if-not-present',
} as const;
