// The API as the server builds it, for tests that run it in their own thread: its own informers
// (thread-main.ts makes them for the API thread's store client) and the task counts a
// CountsPublisher makes from "main thread" informers, relayed through a real MessageChannel
// every 50 ms, as thread.ts relays them. Everything it starts stops when the app closes.
import { MessageChannel } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { buildApi, type ApiServerOptions } from '../../control-plane/api/server.js';
import { CountsPublisher, RelayedCounts } from '../../control-plane/api/task-counts.js';
import { WatchCache } from '../../control-plane/api/watch-cache.js';
import { createSharedInformers, stopSharedInformers } from '../../control-plane/store/shared-informers.js';

export function buildTestApi(opts: Omit<ApiServerOptions, 'cache'>): FastifyInstance {
  const { store, logger } = opts;
  const main = createSharedInformers(store, logger);
  const channel = new MessageChannel();
  const publisher = new CountsPublisher(main, channel.port1);
  void publisher.start();
  const informers = createSharedInformers(store, logger);
  const cache = new WatchCache({ store, logger, informers, counts: new RelayedCounts(channel.port2) });
  const app = buildApi({ ...opts, cache });
  app.addHook('onClose', async () => {
    await publisher.stop();
    channel.port1.close();
    channel.port2.close();
    await Promise.all([stopSharedInformers(informers), stopSharedInformers(main)]);
  });
  return app;
}
