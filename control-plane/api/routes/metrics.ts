// GET /metrics: the Prometheus text format, for any token (a viewer is enough; Prometheus sends it
// as a bearer token). The body is the main thread's metrics and the API thread's, summed
// (control-plane/metrics/relay.ts).
import type { FastifyInstance } from 'fastify';

export interface MetricsSource {
  text(): Promise<{ contentType: string; body: string }>;
}

export function metricsRoutes(app: FastifyInstance, source: MetricsSource): void {
  app.get(
    '/metrics',
    { config: { permission: 'metrics:read' }, schema: { summary: 'Metrics in the Prometheus text format', tags: ['meta'] } },
    async (_req, reply) => {
      const { contentType, body } = await source.text();
      return reply.type(contentType).send(body);
    },
  );
}
