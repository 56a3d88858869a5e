// `berth server --join HOST:PORT --token-file FILE`: before the control plane starts, this server
// asks a server of the cluster (its dispatcher, the address agents join) to let it join. As an
// agent does, it first pins the cluster CA named in the manager token (nothing secret is sent to
// a server without a certificate of that CA), then calls JoinServer. What comes back is written
// to the data dir (the CA, the tokens, `etcd-member.json` with the initial cluster); the server
// then starts as usual and its etcd joins the others'. A refused join writes nothing.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { readJoinToken } from '../../agent/cli.js';
import { dialAddress, fetchPinnedCa, splitHostPort } from '../../agent/session/pin.js';
import { BerthError, errorMessage } from '../../common/errors.js';
import { DISPATCHER_TLS_NAME } from '../../common/pki/certs.js';
import { writePrivateFile, writePublicFile } from '../../common/pki/files.js';
import { parseJoinToken } from '../../common/pki/join-token.js';
import { ADMIN_TOKEN_FILE, JOIN_TOKEN_FILE, MANAGER_TOKEN_FILE } from '../../control-plane/auth/tokens.js';
import { urlHost } from '../../control-plane/etcd/embedded.js';
import { memberAddress, readMemberFile, writeMemberFile } from '../../control-plane/etcd/member.js';
import { CA_CERT_FILE, CA_KEY_FILE } from '../../control-plane/pki/ca.js';
import { SECRETS_KEY_FILE } from '../../control-plane/secrets/secret-box.js';
import type { ServerOptions } from '../../control-plane/server.js';
import type { JoinServerResponse__Output } from '../../proto/generated/berth/v1/JoinServerResponse.js';
import { loadBerthProto } from '../../proto/load.js';

const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';
const CALL_TIMEOUT_MS = 30_000;
const JOIN_ATTEMPTS = 5;

export class ServerJoinError extends BerthError {}

export interface JoinFlags {
  /** `HOST:PORT` of a server's dispatcher. */
  address: string;
  tokenFile: string;
}

/**
 * Joins the cluster at `join.address`, unless this data dir's etcd already belongs to one (a
 * restart with --join still given: the server starts as the member it is).
 */
export async function joinCluster(server: ServerOptions, join: JoinFlags, log: Logger): Promise<void> {
  if (server.etcd.length) throw new ServerJoinError('--join and --etcd: a server joins with its own embedded etcd; with an external etcd, start it with --etcd alone (docs/ha.md)');
  if (existsSync(path.join(server.dataDir, 'etcd', 'member'))) {
    log.info({ dataDir: server.dataDir }, 'this data dir is a member of a cluster already: --join ignored');
    return;
  }
  const token = readJoinToken(join.tokenFile, '--token-file');
  const parsed = parseJoinToken(token);
  if (!parsed) throw new ServerJoinError(`--token-file ${join.tokenFile}: not a manager token (BERTH-1-<CA digest>-<secret>): copy manager-token from a server's data dir`);
  const name = server.name ?? os.hostname();
  const address = await memberAddress(server, await readMemberFile(server.dataDir));
  const peerUrl = `https://${urlHost(address.host)}:${address.port}`;

  let caPem: string;
  try {
    caPem = await fetchPinnedCa(join.address, parsed.caDigest);
  } catch (err) {
    throw new ServerJoinError(`--join ${join.address}: ${errorMessage(err)}`);
  }
  const Client = loadBerthProto().Dispatcher;
  const { host } = splitHostPort(dialAddress(join.address));
  const creds = grpc.credentials.createSsl(Buffer.from(caPem), null, null, {
    checkServerIdentity: (_name, cert) => {
      const usage = (cert as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage ?? [];
      if (!usage.includes(SERVER_AUTH_OID)) return new Error('the server presented a certificate that is not a server certificate of the cluster');
      return checkServerIdentity(host, cert);
    },
  });
  const client = new Client(join.address, creds, { 'grpc.ssl_target_name_override': DISPATCHER_TLS_NAME });
  let res: JoinServerResponse__Output | undefined;
  try {
    // A server whose etcd is busy (a member just added or promoted) answers UNAVAILABLE: again.
    for (let attempt = 1; !res; attempt++) {
      try {
        res = await new Promise<JoinServerResponse__Output>((resolve, reject) =>
          client.JoinServer({ managerToken: token, name, etcdPeerUrl: peerUrl }, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, out) =>
            err ? reject(err) : out ? resolve(out) : reject(new Error('empty answer')),
          ),
        );
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code !== grpc.status.UNAVAILABLE || attempt >= JOIN_ATTEMPTS) throw new ServerJoinError(`--join ${join.address}: ${e.details ?? errorMessage(err)}`);
        log.warn({ via: join.address, attempt, err: e.details ?? errorMessage(err) }, 'server join not answered; trying again');
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
  } finally {
    client.close();
  }
  const dir = server.dataDir;
  await writePublicFile(path.join(dir, CA_CERT_FILE), res.caCertificate);
  await writePrivateFile(path.join(dir, CA_KEY_FILE), res.caKey);
  if (res.secretsKey) await writePrivateFile(path.join(dir, SECRETS_KEY_FILE), res.secretsKey);
  await writePrivateFile(path.join(dir, ADMIN_TOKEN_FILE), `${res.adminToken}\n`);
  await writePrivateFile(path.join(dir, JOIN_TOKEN_FILE), `${res.joinToken}\n`);
  await writePrivateFile(path.join(dir, MANAGER_TOKEN_FILE), `${token}\n`);
  await writeMemberFile(dir, {
    peerAddress: `${urlHost(address.host)}:${address.port}`,
    join: { initialCluster: res.initialCluster, etcdPrefix: res.etcdPrefix },
  });
  log.info({ via: join.address, member: res.memberId, peerUrl }, 'joined the cluster: CA and tokens received, etcd member added');
}
