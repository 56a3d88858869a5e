// JoinServer: another server joining the control plane (`berth server --join`). The manager token
// (never a node's join token) -> the cluster CA's certificate and key (every server signs node
// certificates), the admin and join tokens, the etcd key prefix, and an etcd member for the
// joining server, added as a learner (no vote until the leader promotes it, leader/learners.ts),
// with the initial cluster its etcd starts with. A refused call adds nothing. Neither the tokens
// nor the key are ever logged.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { JoinServerRequest__Output } from '../../proto/generated/berth/v1/JoinServerRequest.js';
import type { JoinServerResponse } from '../../proto/generated/berth/v1/JoinServerResponse.js';
import { initialCluster } from '../etcd/member.js';
import { serverKeys } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** What the dispatcher needs to let a server join. */
export interface ServerJoinHost {
  store: Store;
  etcdPrefix: string;
  /** Whether this server runs an embedded etcd (an external etcd's servers do not join this way). */
  embeddedEtcd: boolean;
  verifyManagerToken(token: string): Promise<boolean>;
  /** The CA and tokens of this server's data dir (tokens absent when it does not hold them). */
  secrets(): Promise<{ caCertPem: string; caKeyPem: string; adminToken?: string; joinToken?: string; secretsKey?: string }>;
  log: Logger;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const PEER_URL = /^https:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export async function joinServer(
  host: ServerJoinHost,
  call: grpc.ServerUnaryCall<JoinServerRequest__Output, JoinServerResponse>,
  callback: grpc.sendUnaryData<JoinServerResponse>,
): Promise<void> {
  const { name, etcdPeerUrl } = call.request;
  const peer = call.getPeer();
  const refuse = (code: grpc.status, details: string) => {
    host.log.warn({ server: name, peer, reason: details }, 'server join refused');
    callback({ code, details });
  };
  try {
    if (!call.request.managerToken || !(await host.verifyManagerToken(call.request.managerToken))) {
      return refuse(grpc.status.UNAUTHENTICATED, 'invalid manager token: a server joins with the manager token (manager-token in a server\'s data dir), not a node\'s join token');
    }
    if (!host.embeddedEtcd) {
      return refuse(grpc.status.FAILED_PRECONDITION, 'this cluster keeps its state in an external etcd: start the new server with the same --etcd and --etcd-prefix instead of --join (docs/ha.md)');
    }
    if (!NAME.test(name)) return refuse(grpc.status.INVALID_ARGUMENT, `name "${name}": letters, digits, '.', '_' and '-' only, starting with a letter or digit`);
    const m = PEER_URL.exec(etcdPeerUrl);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return refuse(grpc.status.INVALID_ARGUMENT, `etcd peer URL "${etcdPeerUrl}": expected https://HOST:PORT`);
    const secrets = await host.secrets();
    if (!secrets.adminToken || !secrets.joinToken) {
      return refuse(grpc.status.FAILED_PRECONDITION, "this server's data dir does not hold the cluster's admin and join tokens: join through a server that does");
    }
    if (await host.store.get(serverKeys.server(name))) {
      return refuse(grpc.status.ALREADY_EXISTS, `a server named "${name}" is running: give the new server another --name`);
    }
    const members = await host.store.members();
    const named = members.find((x) => x.name === name);
    if (named) return refuse(grpc.status.ALREADY_EXISTS, `a server named "${name}" is an etcd member already (stopped?): remove it with "berth server rm ${name}" first, or use another --name`);
    const samePeer = members.find((x) => x.peerUrls.includes(etcdPeerUrl));
    if (samePeer?.name) return refuse(grpc.status.ALREADY_EXISTS, `etcd peer URL ${etcdPeerUrl} is server "${samePeer.name}"'s`);
    if (members.some((x) => !x.name && !x.learner)) {
      return refuse(grpc.status.FAILED_PRECONDITION, 'the etcd cluster has a voting member that never started: remove it before joining more servers');
    }
    // Learners that never started are joins abandoned half-way (the server gave up or died):
    // they hold no vote, so they go; one with this very peer URL is this server trying again.
    for (const stale of members.filter((x) => !x.name && x.learner && x !== samePeer)) {
      await host.store.removeMember(stale.id);
      host.log.info({ member: stale.id, peerUrls: stale.peerUrls }, 'removed an etcd learner that never started (a join abandoned half-way)');
    }
    const added = samePeer ? { member: samePeer, members: await host.store.members() } : await host.store.addLearner([etcdPeerUrl]);
    const cluster = initialCluster(added.members, { id: added.member.id, name });
    host.log.info({ server: name, peer, member: added.member.id, etcdPeerUrl }, 'server joining: etcd learner added, CA and tokens sent');
    callback(null, {
      caCertificate: secrets.caCertPem,
      caKey: secrets.caKeyPem,
      adminToken: secrets.adminToken,
      joinToken: secrets.joinToken,
      ...(secrets.secretsKey ? { secretsKey: secrets.secretsKey } : {}),
      etcdPrefix: host.etcdPrefix,
      memberId: added.member.id,
      initialCluster: cluster,
    });
  } catch (err) {
    host.log.error({ err: errorMessage(err), server: name }, 'server join failed');
    callback({ code: grpc.status.UNAVAILABLE, details: `server join failed: ${errorMessage(err)}` });
  }
}
