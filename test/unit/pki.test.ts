import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { renewalDue } from '../../agent/session/identity.js';
import { dialAddress } from '../../agent/session/pin.js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { certDigest, certFacts, createCsr, DISPATCHER_TLS_NAME, ECDSA_P256, generateKeyPair, importKeyPair } from '../../common/pki/certs.js';
import { x509 } from '../../common/pki/x509.js';
import { formatJoinToken, parseJoinToken } from '../../common/pki/join-token.js';
import { ClusterCa, CsrRejectedError } from '../../control-plane/pki/ca.js';
import { canonicalIp, hostOf, serverCertStale, serverSans } from '../../control-plane/pki/server-cert.js';
import { parseDurationMs } from '../../control-plane/pki/setup.js';

describe('cluster PKI helpers', () => {
  let ca: ClusterCa;
  before(async () => {
    ({ ca } = await ClusterCa.create());
  });

  it('formats and parses join tokens that pin the CA digest', () => {
    const digest = certDigest(ca.certPem);
    assert.match(digest, /^[0-9a-f]{64}$/);
    const token = formatJoinToken(digest, 'abcdefghijklmnopqrstuvwx');
    assert.deepEqual(parseJoinToken(token), { caDigest: digest, secret: 'abcdefghijklmnopqrstuvwx' });
    assert.equal(parseJoinToken('berth-join-xyz'), undefined);
    assert.equal(parseJoinToken(`BERTH-1-${digest.slice(1)}-abcdefghijklmnopqrstuvwx`), undefined);
  });

  it('makes a root CA that signs node CSRs with CN = node id, client auth only, for the lifetime asked', async () => {
    assert.ok(ca.cert.ca);
    const key = await generateKeyPair();
    const now = new Date();
    const issued = await ca.signNodeCsr(await createCsr(key.keys, 'whatever-the-node-asks'), 'node-42', 60_000, now);
    const cert = new X509Certificate(issued.certPem);
    assert.equal(certFacts(cert).commonName, 'node-42');
    assert.ok(ca.issued(cert));
    assert.ok(!cert.ca);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(Math.abs(certFacts(cert).notAfter.getTime() - (now.getTime() + 60_000)) < 1000, true);
    assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(key.keyPem)));
  });

  it('signs node certificates whose every field but the signature is what the generic generator makes', async () => {
    const { ca: own, keyPem } = await ClusterCa.create();
    const caKeys = await importKeyPair(keyPem, own.certPem);
    const key = await generateKeyPair();
    const now = new Date('2031-03-04T05:06:07.890Z');
    for (const nodeId of ['node-42', 'a1b2c3d4e5f60718', 'nöde_with*odd chars']) {
      const issued = await own.signNodeCsr(await createCsr(key.keys), nodeId, 3600_000, now);
      const fast = new x509.X509Certificate(issued.certPem);
      assert.equal(issued.serial, certFacts(issued.certPem).serial);
      assert.ok(await fast.verify({ publicKey: caKeys.publicKey, signatureOnly: true }));
      const generic = await x509.X509CertificateGenerator.create({
        serialNumber: issued.serial,
        subject: [{ CN: [nodeId] }],
        issuer: own.cert.subject.replace(/\n/g, ', '),
        notBefore: fast.notBefore,
        notAfter: fast.notAfter,
        signingAlgorithm: ECDSA_P256,
        publicKey: key.keys.publicKey,
        signingKey: caKeys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        ],
      });
      const [a, b] = [fast, generic].map((c) => AsnConvert.parse(c.rawData, Certificate));
      const hex = (x: object) => Buffer.from(AsnConvert.serialize(x)).toString('hex');
      assert.equal(hex(a!.tbsCertificate), hex(b!.tbsCertificate), nodeId);
      assert.equal(hex(a!.signatureAlgorithm), hex(b!.signatureAlgorithm));
    }
  });

  it('refuses a request that is not a CSR or whose signature does not verify', async () => {
    await assert.rejects(ca.signNodeCsr('not a csr', 'n', 1000), CsrRejectedError);
    const csr = await createCsr((await generateKeyPair()).keys);
    const body = csr.split('\n').filter((l) => !l.startsWith('-----')).join('');
    const der = Buffer.from(body, 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 0xff; // damage the signature
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(ca.signNodeCsr(bad, 'n', 1000), CsrRejectedError);
  });

  it('names the server certificate after the listen, advertised and extra addresses, the host and loopback', () => {
    const sans = serverSans({ agentListen: '10.1.2.3:7071', advertiseAddr: 'cp.example:7071', extra: ['lb.example', '192.168.0.9'], hostname: 'cp-1' });
    assert.deepEqual(sans.dns, [DISPATCHER_TLS_NAME, 'cp-1', 'cp.example', 'lb.example', 'localhost'].sort());
    assert.deepEqual(sans.ips, ['10.1.2.3', '127.0.0.1', '192.168.0.9', '::1']);
    const wildcard = serverSans({ agentListen: '0.0.0.0:7071', interfaceAddresses: ['10.0.0.5', '127.0.0.1'] });
    assert.ok(wildcard.ips.includes('10.0.0.5'));
    assert.ok(!wildcard.ips.includes('0.0.0.0'));
    assert.equal(hostOf('[fd00::1]:7071'), 'fd00::1');
    assert.equal(canonicalIp('::1'), canonicalIp('0:0:0:0:0:0:0:1'));
  });

  it('keeps a server certificate until its names change or a third of its life is left', async () => {
    const sans = serverSans({ agentListen: '127.0.0.1:7071' });
    const key = await generateKeyPair();
    const now = new Date('2030-01-01T00:00:00Z');
    const { ca: dated } = await ClusterCa.create(new Date('2029-01-01T00:00:00Z'));
    const issued = await dated.issueServerCert(key.keys.publicKey, sans, 90 * 86_400_000, now);
    assert.equal(serverCertStale(issued.certPem, dated, sans, now), undefined);
    assert.equal(serverCertStale(issued.certPem, dated, serverSans({ agentListen: '127.0.0.1:7071', extra: ['new.example'] }), now), 'its names changed');
    assert.equal(serverCertStale(issued.certPem, dated, sans, new Date(now.getTime() + 70 * 86_400_000)), 'near expiry');
    assert.equal(serverCertStale(issued.certPem, ca, sans, now), 'not signed by the cluster CA');
  });

  it('parses certificate lifetimes and schedules renewal at two thirds of the life left', () => {
    assert.equal(parseDurationMs('20s'), 20_000);
    assert.equal(parseDurationMs('1h30m'), 5_400_000);
    assert.equal(parseDurationMs('24h'), 86_400_000);
    assert.equal(parseDurationMs('soon'), undefined);
    assert.equal(renewalDue(1000, 4000), 3000);
  });

  it('finds the address a channel target dials', () => {
    assert.equal(dialAddress('10.0.0.1:7071'), '10.0.0.1:7071');
    assert.equal(dialAddress('dns://127.0.0.2:5/127.0.0.1:7071'), '127.0.0.1:7071');
  });
});
