// Join and Renew, the two calls that hand out node certificates. Join: a valid join token and a
// node's CSR -> the node registered (as Register would) and its certificate, CN = node id, signed
// by the cluster CA; it is the one call reachable without a client certificate. Renew: the
// node's current certificate (mutual TLS) and a CSR for its (new) key -> a new certificate for
// the same node. Neither logs or answers with a token or key.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { JoinRequest__Output } from '../../proto/generated/berth/v1/JoinRequest.js';
import type { JoinResponse } from '../../proto/generated/berth/v1/JoinResponse.js';
import type { RegisterRequest__Output } from '../../proto/generated/berth/v1/RegisterRequest.js';
import type { RegisterResponse } from '../../proto/generated/berth/v1/RegisterResponse.js';
import type { RenewRequest__Output } from '../../proto/generated/berth/v1/RenewRequest.js';
import type { RenewResponse } from '../../proto/generated/berth/v1/RenewResponse.js';
import { CsrRejectedError } from '../pki/ca.js';
import { isDenied, NODE_CERT_TTL_MS, type CallDenied, type DispatcherTls, type PeerVerifier } from './tls.js';

/** What Join and Renew need from the dispatcher. */
export interface CertificateHost {
  tls: DispatcherTls;
  peers: PeerVerifier;
  log: Logger;
  verifyJoinToken(token: string): boolean | Promise<boolean>;
  /** Registers the node (validated); a CallDenied for a registration that is refused. */
  admit(req: RegisterRequest__Output, peer: string): Promise<RegisterResponse | CallDenied>;
}

export async function join(
  host: CertificateHost,
  call: grpc.ServerUnaryCall<JoinRequest__Output, JoinResponse>,
  callback: grpc.sendUnaryData<JoinResponse>,
): Promise<void> {
  const reg = call.request.registration;
  const peer = call.getPeer();
  const nodeName = reg?.nodeName;
  try {
    if (!reg?.joinToken || !(await host.verifyJoinToken(reg.joinToken))) {
      host.log.warn({ nodeName, peer }, 'join refused: invalid join token');
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'invalid join token' });
      return;
    }
    // The request is checked before the node is registered: a bad one registers nothing.
    await host.tls.ca.checkCsr(call.request.csr);
    const registration = await host.admit(reg, peer);
    if (isDenied(registration)) {
      callback(registration);
      return;
    }
    const issued = await host.tls.ca.signNodeCsr(call.request.csr, registration.nodeId!, host.tls.nodeCertTtlMs ?? NODE_CERT_TTL_MS);
    host.log.info({ nodeId: registration.nodeId, nodeName, serial: issued.serial, notAfter: issued.notAfter.toISOString() }, 'node joined: certificate issued');
    callback(null, { registration, certificate: issued.certPem, caCertificate: host.tls.ca.certPem });
  } catch (err) {
    if (err instanceof CsrRejectedError) {
      host.log.warn({ nodeName, peer, reason: err.message }, 'join refused: bad certificate request');
      callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    host.log.error({ err: errorMessage(err), nodeName }, 'join failed');
    callback({ code: grpc.status.UNAVAILABLE, details: `join failed: ${errorMessage(err)}` });
  }
}

export async function renew(
  host: CertificateHost,
  call: grpc.ServerUnaryCall<RenewRequest__Output, RenewResponse>,
  callback: grpc.sendUnaryData<RenewResponse>,
): Promise<void> {
  const who = host.peers.identify(call);
  if (isDenied(who)) {
    host.log.warn({ peer: call.getPeer(), reason: who.details }, 'certificate renewal refused');
    callback(who);
    return;
  }
  try {
    const issued = await host.tls.ca.signNodeCsr(call.request.csr, who.nodeId, host.tls.nodeCertTtlMs ?? NODE_CERT_TTL_MS);
    host.log.info({ nodeId: who.nodeId, oldSerial: who.serial, serial: issued.serial, notAfter: issued.notAfter.toISOString() }, 'node certificate renewed');
    callback(null, { certificate: issued.certPem, caCertificate: host.tls.ca.certPem });
  } catch (err) {
    const bad = err instanceof CsrRejectedError;
    if (!bad) host.log.error({ err: errorMessage(err), nodeId: who.nodeId }, 'certificate renewal failed');
    callback({ code: bad ? grpc.status.INVALID_ARGUMENT : grpc.status.UNAVAILABLE, details: errorMessage(err) });
  }
}
