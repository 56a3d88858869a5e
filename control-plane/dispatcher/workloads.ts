// The dispatcher's calls for what tasks keep and read: GetTaskSecrets (the values of one task's
// secrets and configs and the credentials of its image's registry, to the node the task is
// assigned to, over mutual TLS only) and SyncVolumes (a node's
// named volumes, written on its node object; pending `berth volume rm` requests in the answer).
// Owns: those two handlers. Must not: log, record or return a value anywhere but in the answer
// to the task's own node.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import { imageRegistry } from '../../common/workloads.js';
import { isTerminal, type Node, type NodeVolume, type Task } from '../../common/types.js';
import type { DispatcherHandlers } from '../../proto/generated/berth/v1/Dispatcher.js';
import { volumeKeys, type VolumeRemoval } from '../api/routes/volumes.js';
import type { Secrets } from '../secrets/secrets.js';
import type { Configs } from '../secrets/configs.js';
import type { Registries } from '../secrets/registries.js';
import type { Store } from '../store/store.js';
import { isDenied, type PeerVerifier } from './tls.js';

export interface WorkloadHost {
  store: Store;
  log: Logger;
  peers: PeerVerifier;
  tasksOf(nodeId: string): Task[];
  node(nodeId: string): Node | undefined;
  setVolumes(nodeId: string, volumes: NodeVolume[]): Promise<void>;
  secrets?: Secrets;
  configs: Configs;
  registries?: Registries;
}

export function workloadHandlers(host: WorkloadHost): Pick<DispatcherHandlers, 'GetTaskSecrets' | 'SyncVolumes'> {
  return {
    GetTaskSecrets: (call, callback) => {
      void (async () => {
        const who = host.peers.identify(call);
        if (isDenied(who)) return callback(who);
        const task = host.tasksOf(who.nodeId).find((t) => t.id === call.request.taskId);
        // Only to the node the task is assigned to, while it is meant to run.
        if (!task || task.desiredState !== 'running' || isTerminal(task.status.state)) {
          return callback({ code: grpc.status.PERMISSION_DENIED, details: `task ${call.request.taskId} is not meant to run on this node` });
        }
        const names = (task.spec.secrets ?? []).map((s) => s.source);
        const configNames = (task.spec.configs ?? []).map((s) => s.source);
        const registry = imageRegistry(task.spec.image);
        if (names.length && !host.secrets) return callback({ code: grpc.status.UNAVAILABLE, details: 'this server has no secrets key' });
        try {
          const [values, configs, auth] = await Promise.all([
            names.length ? host.secrets!.values(names) : [],
            configNames.length ? host.configs.values(configNames) : [],
            registry && host.registries ? host.registries.credentials(registry) : undefined,
          ]);
          if (names.length || configNames.length || auth) {
            host.log.info({ nodeId: who.nodeId, task: task.name, secrets: names, configs: configNames, ...(auth ? { registry } : {}) }, 'files and credentials sent to the node of a task using them');
          }
          callback(null, {
            secrets: values.map((v) => ({ name: v.name, data: v.data })),
            configs: configs.map((v) => ({ name: v.name, data: v.data })),
            ...(auth ? { registryAuth: { serverAddress: registry!, username: auth.username, password: auth.password } } : {}),
          });
        } catch (err) {
          host.log.warn({ nodeId: who.nodeId, task: task.name, err: errorMessage(err) }, 'files of a task could not be read');
          callback({ code: grpc.status.FAILED_PRECONDITION, details: errorMessage(err) });
        }
      })();
    },
    SyncVolumes: (call, callback) => {
      void (async () => {
        const who = host.peers.identify(call);
        if (isDenied(who)) return callback(who);
        try {
          const volumes: NodeVolume[] = call.request.volumes
            .map((v) => ({ name: v.name, ...(v.service ? { service: v.service } : {}), ...(v.createdAt ? { createdAt: v.createdAt } : {}), inUse: v.inUse }))
            .sort((a, b) => a.name.localeCompare(b.name));
          await host.setVolumes(who.nodeId, volumes);
          for (const r of call.request.removals) {
            const key = volumeKeys.removal(who.nodeId, r.name);
            if (r.error) await host.store.put(key, { requestedAt: new Date().toISOString(), error: r.error } satisfies VolumeRemoval);
            else await host.store.delete(key);
          }
          const { items, keys } = await host.store.list<VolumeRemoval>(volumeKeys.removalsOf(who.nodeId));
          const remove = keys.filter((_, i) => !items[i]!.error).map((k) => k.slice(volumeKeys.removalsOf(who.nodeId).length));
          callback(null, { remove });
        } catch (err) {
          callback({ code: grpc.status.UNAVAILABLE, details: `volume sync failed: ${errorMessage(err)}` });
        }
      })();
    },
  };
}
