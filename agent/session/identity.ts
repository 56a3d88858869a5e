// The node's identity towards the control plane: its key, its certificate (CN = node id, signed
// by the cluster CA) and the CA, kept in the agent's data dir (`node.key` 0600, `node.crt`,
// `ca.crt`) or, for hollow nodes, in memory. Owns: joining (pin the CA named by the join token,
// then Join with a CSR: the key never leaves the node), the mutual-TLS gRPC client every other
// call uses, and renewal at 2/3 of the certificate's life (Renew, authenticated by the current
// certificate), after which the client is replaced and the session told to reconnect.
// Must not: log or report the join token or the key.
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { certFacts, createCsr, DISPATCHER_TLS_NAME, generateKeyPair, type PemKeyPair } from '../../common/pki/certs.js';
import { readIfExists, writePrivateFile, writePublicFile } from '../../common/pki/files.js';
import { parseJoinToken } from '../../common/pki/join-token.js';
import { errorMessage } from '../../common/errors.js';
import type { DispatcherClient } from '../../proto/generated/berth/v1/Dispatcher.js';
import type { RegisterRequest } from '../../proto/generated/berth/v1/RegisterRequest.js';
import type { RegisterResponse__Output } from '../../proto/generated/berth/v1/RegisterResponse.js';
import { loadBerthProto } from '../../proto/load.js';
import { NodeIdentityError } from './identity-errors.js';
import { dialAddress, fetchPinnedCa, splitHostPort } from './pin.js';

export const NODE_CERT_FILE = 'node.crt';
export const NODE_KEY_FILE = 'node.key';
export const NODE_CA_FILE = 'ca.crt';

const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';
const CALL_TIMEOUT_MS = 10_000;
/** A certificate this close to its end is not used to connect: join again instead. */
const EXPIRY_MARGIN_MS = 2000;
/** The replaced client is closed this long after a renewal (its session has moved on by then). */
const RETIRE_AFTER_MS = 10_000;

export interface NodeCredentials {
  nodeId: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  serial: string;
  notAfter: number;
  /** When this node got the certificate (ms); renewal is due at 2/3 of the way from here to notAfter. */
  obtainedAt: number;
}

export interface NodeIdentityOptions {
  /** The dispatcher's channel target. */
  server: string;
  joinToken?: string;
  /** Where the key and certificates are kept; undefined: in memory only (hollow nodes). */
  dir?: string;
  /** One key for many nodes of a process (hollow nodes); default a new key per certificate. */
  sharedKey?: PemKeyPair;
  channelOptions: grpc.ChannelOptions;
  logger: Logger;
}

/** Channel credentials trusting only a CA, for joining: one per CA for the process (hollow nodes). */
const joinCredentials = new Map<string, grpc.ChannelCredentials>();

/** The request for a shared key is the same for every node: made once per process. */
const sharedKeyCsrs = new WeakMap<PemKeyPair, Promise<string>>();

async function csrFor(key: PemKeyPair, shared: boolean): Promise<string> {
  if (!shared) return createCsr(key.keys);
  let csr = sharedKeyCsrs.get(key);
  if (!csr) {
    csr = createCsr(key.keys);
    sharedKeyCsrs.set(key, csr);
  }
  return csr;
}

/** When a certificate obtained at `obtainedAt`, valid until `notAfter`, is renewed. */
export function renewalDue(obtainedAt: number, notAfter: number): number {
  return obtainedAt + Math.floor(((notAfter - obtainedAt) * 2) / 3);
}

export class NodeIdentity {
  private creds: NodeCredentials | undefined;
  private loaded = false;
  private mtls: DispatcherClient | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly retired = new Set<DispatcherClient>();
  private closed = false;
  private onRenewed: (() => void) | undefined;

  /** The dispatcher dialled now (the session moves it to another server, setServer). */
  private server: string;
  /** Addresses whose certificate was found not to name them (said once each). */
  private readonly misnamed = new Set<string>();

  constructor(private readonly opts: NodeIdentityOptions) {
    this.server = opts.server;
  }

  get credentials(): NodeCredentials | undefined {
    return this.creds;
  }

  /** The dispatcher address calls go to. */
  get target(): string {
    return this.server;
  }

  /**
   * Calls go to the dispatcher at `server` from now on (another server of the cluster: all
   * share one CA, so the node certificate holds there too). The old client is retired.
   */
  setServer(server: string): void {
    if (server === this.server) return;
    this.server = server;
    this.retire();
  }

  /**
   * Makes sure the node holds a usable certificate, joining with the join token if it has none
   * (or only an expired one). Returns the registration when it joined (Join registers the node),
   * undefined when the certificate on hand is used. Throws NodeIdentityError when it cannot.
   */
  async ensure(registration: RegisterRequest): Promise<RegisterResponse__Output | undefined> {
    await this.load();
    const c = this.creds;
    if (c && c.notAfter - Date.now() > EXPIRY_MARGIN_MS) return undefined;
    if (!this.opts.joinToken) {
      throw new NodeIdentityError(
        c
          ? `this node's certificate${this.where()} expired at ${new Date(c.notAfter).toISOString()}: a join token (--token or --token-file) is needed to join again`
          : `this node has no certificate${this.where()}: a join token (--token or --token-file) is needed to join`,
      );
    }
    return this.join(registration, this.opts.joinToken);
  }

  /** The mutual-TLS client of the current certificate. */
  client(): DispatcherClient {
    if (!this.creds) throw new NodeIdentityError('no node certificate yet: join first');
    this.mtls ??= this.newClient(this.creds);
    return this.mtls;
  }

  /** The server refused the certificate (expired, another CA): the next `ensure` joins again. */
  invalidate(): void {
    if (this.creds) this.creds = { ...this.creds, notAfter: 0 };
  }

  /** The node was removed (its certificates are revoked): forgets them, files included. */
  async forget(): Promise<void> {
    this.creds = undefined;
    this.retire();
    if (this.opts.dir) await Promise.all([NODE_CERT_FILE, NODE_KEY_FILE].map((f) => rm(path.join(this.opts.dir!, f), { force: true })));
  }

  /** Renews the certificate at 2/3 of its life from now on; `renewed` is called after each renewal. */
  startRenewing(renewed: () => void): void {
    this.onRenewed = renewed;
    this.scheduleRenewal();
  }

  close(): void {
    this.closed = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.retire();
    for (const c of this.retired) c.close();
    this.retired.clear();
  }

  private async join(registration: RegisterRequest, token: string): Promise<RegisterResponse__Output> {
    const parsed = parseJoinToken(token);
    if (!parsed) throw new NodeIdentityError('the join token is not in the form BERTH-1-<CA digest>-<secret>: copy it again from the server\'s data dir (join-token)');
    // Nothing secret is sent before the server proved it holds a certificate of the pinned CA.
    const target = this.server;
    const caPem = await fetchPinnedCa(target, parsed.caDigest);
    const key = this.opts.sharedKey ?? (await generateKeyPair());
    const csr = await csrFor(key, !!this.opts.sharedKey);
    const Client = loadBerthProto().Dispatcher;
    let creds = joinCredentials.get(`${caPem}|${dialAddress(target)}`);
    if (!creds) {
      creds = grpc.credentials.createSsl(Buffer.from(caPem), null, null, this.serverCheck(target));
      joinCredentials.set(`${caPem}|${dialAddress(target)}`, creds);
    }
    const client = new Client(target, creds, this.channelOptions());
    try {
      const res = await new Promise<{ registration?: RegisterResponse__Output | null; certificate: string; caCertificate: string }>((resolve, reject) => {
        client.Join({ registration: { ...registration, joinToken: token }, csr }, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, out) =>
          err ? reject(err) : out ? resolve(out) : reject(new Error('empty join response')),
        );
      });
      if (!res.registration?.nodeId) throw new Error('the join response has no registration');
      await this.adopt({ certPem: res.certificate, keyPem: key.keyPem, caPem: res.caCertificate }, res.registration.nodeId);
      this.opts.logger.info({ nodeId: res.registration.nodeId, serial: this.creds!.serial, notAfter: new Date(this.creds!.notAfter).toISOString() }, 'joined: node certificate received');
      return res.registration;
    } finally {
      client.close();
    }
  }

  private async renew(): Promise<void> {
    const key = this.opts.sharedKey ?? (await generateKeyPair());
    const csr = await csrFor(key, !!this.opts.sharedKey);
    const client = this.client();
    const res = await new Promise<{ certificate: string; caCertificate: string }>((resolve, reject) => {
      client.Renew({ csr }, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, out) => (err ? reject(err) : out ? resolve(out) : reject(new Error('empty renew response'))));
    });
    const nodeId = this.creds!.nodeId;
    await this.adopt({ certPem: res.certificate, keyPem: key.keyPem, caPem: res.caCertificate }, nodeId);
    this.opts.logger.info({ nodeId, serial: this.creds!.serial, notAfter: new Date(this.creds!.notAfter).toISOString() }, 'node certificate renewed');
  }

  private scheduleRenewal(retryMs?: number): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    const c = this.creds;
    if (this.closed || !c || !this.onRenewed) return;
    const delay = retryMs ?? Math.max(0, renewalDue(c.obtainedAt, c.notAfter) - Date.now());
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      if (!this.creds || this.closed) return;
      this.renew().then(
        () => {
          this.scheduleRenewal();
          this.onRenewed?.();
        },
        (err: unknown) => {
          const left = (this.creds?.notAfter ?? 0) - Date.now();
          this.opts.logger.warn({ err: errorMessage(err), expiresInMs: left }, 'node certificate renewal failed; retrying');
          this.scheduleRenewal(Math.min(60_000, Math.max(1000, left / 10)));
        },
      );
    }, delay);
    this.renewTimer.unref();
  }

  /** Takes new credentials: kept (files written first), and the mutual-TLS client replaced. */
  private async adopt(files: { certPem: string; keyPem: string; caPem: string }, expectedNodeId: string): Promise<void> {
    const facts = certFacts(files.certPem);
    if (facts.commonName !== expectedNodeId) throw new Error(`the server sent a certificate for ${facts.commonName ?? 'no node'}, not node ${expectedNodeId}`);
    if (this.opts.dir) {
      await writePrivateFile(path.join(this.opts.dir, NODE_KEY_FILE), files.keyPem);
      await writePublicFile(path.join(this.opts.dir, NODE_CERT_FILE), files.certPem);
      await writePublicFile(path.join(this.opts.dir, NODE_CA_FILE), files.caPem);
    }
    this.retire();
    this.creds = { ...files, nodeId: expectedNodeId, serial: facts.serial, notAfter: facts.notAfter.getTime(), obtainedAt: Date.now() };
    this.loaded = true;
  }

  /** The current client is kept for calls under way, closed a little later. */
  private retire(): void {
    const old = this.mtls;
    this.mtls = undefined;
    if (!old) return;
    this.retired.add(old);
    setTimeout(() => {
      if (this.retired.delete(old)) old.close();
    }, RETIRE_AFTER_MS).unref();
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    const dir = this.opts.dir;
    if (!dir) return;
    const certFile = path.join(dir, NODE_CERT_FILE);
    const [certPem, keyPem, caPem] = await Promise.all([certFile, path.join(dir, NODE_KEY_FILE), path.join(dir, NODE_CA_FILE)].map(readIfExists));
    if (!certPem || !keyPem || !caPem) return;
    try {
      const facts = certFacts(certPem);
      const obtainedAt = Math.min(Date.now(), (await stat(certFile)).mtimeMs);
      this.creds = { certPem, keyPem, caPem, nodeId: facts.commonName ?? '', serial: facts.serial, notAfter: facts.notAfter.getTime(), obtainedAt };
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err), file: certFile }, 'unreadable node certificate ignored');
    }
  }

  private newClient(c: NodeCredentials): DispatcherClient {
    const Client = loadBerthProto().Dispatcher;
    const creds = grpc.credentials.createSsl(Buffer.from(c.caPem), Buffer.from(c.keyPem), Buffer.from(c.certPem), this.serverCheck(this.server));
    return new Client(this.server, creds, this.channelOptions());
  }

  private channelOptions(): grpc.ChannelOptions {
    return { ...this.opts.channelOptions, 'grpc.ssl_target_name_override': DISPATCHER_TLS_NAME };
  }

  /**
   * The server's certificate must name the address dialled (TLS checked the fixed server name
   * only) and be a server certificate (not another node's). A certificate that does not name
   * the address is said once per address in the log, as an error: the servers hand out their
   * registered agent addresses, so a server whose certificate lacks its own is misconfigured.
   */
  private serverCheck(target: string): grpc.VerifyOptions {
    const address = dialAddress(target);
    const { host } = splitHostPort(address);
    return {
      checkServerIdentity: (_name, cert) => {
        const usage = (cert as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage ?? [];
        if (!usage.includes(SERVER_AUTH_OID)) return new Error('the server presented a certificate that is not a server certificate of the cluster');
        const wrongName = checkServerIdentity(host, cert);
        if (!wrongName) return undefined;
        const fix = `start the server with --tls-san ${host} or --advertise-addr ${address} so its certificate names it`;
        if (!this.misnamed.has(address)) {
          this.misnamed.add(address);
          this.opts.logger.error({ server: address, reason: wrongName.message }, `the server at ${address} presents a certificate that does not name ${host}: this agent cannot use it (${fix})`);
        }
        return new Error(`${wrongName.message} (${fix})`);
      },
    };
  }

  private where(): string {
    return this.opts.dir ? ` (in ${this.opts.dir})` : '';
  }
}
