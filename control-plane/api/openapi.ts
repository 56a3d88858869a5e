// The OpenAPI document, built from the schemas the routes already declare (no second copy).
import type { FastifyInstance, RouteOptions } from 'fastify';
import { serviceSchema } from '../../common/manifest/schema.js';

interface Operation {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  permission?: string;
}

export function collectOpenApi(app: FastifyInstance): () => Record<string, unknown> {
  const ops: Operation[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const m of methods) {
      if (m === 'HEAD') continue;
      const permission = route.config?.permission;
      ops.push({ method: m.toLowerCase(), url: route.url, schema: (route.schema ?? {}) as Record<string, unknown>, ...(permission ? { permission } : {}) });
    }
  });
  return () => {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of ops) {
      const url = op.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const s = op.schema;
      const params = (s.params as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
      const query = (s.querystring as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
      const responses: Record<string, unknown> = {};
      for (const [code, schema] of Object.entries((s.response as Record<string, unknown> | undefined) ?? {})) {
        responses[code] = { description: code, content: { 'application/json': { schema } } };
      }
      (paths[url] ??= {})[op.method] = {
        summary: s.summary,
        tags: s.tags,
        security: op.permission === 'public' ? [] : [{ bearer: [] }],
        parameters: [
          ...Object.entries(params).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
          ...Object.entries(query).map(([name, schema]) => ({ name, in: 'query', schema })),
        ],
        ...(s.body ? { requestBody: { content: { 'application/json': { schema: s.body } } } } : {}),
        responses: Object.keys(responses).length ? responses : { 200: { description: 'OK' } },
        // The permission a caller's role needs (control-plane/auth/permissions.ts); lacking it is a 403.
        ...(op.permission && op.permission !== 'public' ? { 'x-berth-permission': op.permission } : {}),
      };
    }
    return {
      openapi: '3.0.3',
      info: { title: 'Berth API', version: 'v1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: { Service: serviceSchema },
      },
      paths,
    };
  };
}

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    tags?: string[];
  }
}
