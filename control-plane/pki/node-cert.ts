// Node certificates made quickly: the CA signs one per joining node, thousands in a cluster's
// first minute. Owns the TBSCertificate of a node certificate built from a template made once per
// CA (version, signature algorithm, issuer name, extensions: the same fields and encoding the CA's
// generic path produces), whose only per-node fields are the serial, subject CN, validity and
// public key, signed with node:crypto. Must not: decide what a certificate says (ca.ts does).
import { createPrivateKey, KeyObject, sign, type webcrypto } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ecdsaWithSHA256 } from '@peculiar/asn1-ecc';
import {
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  Extension,
  Extensions,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { x509 } from '../../common/pki/x509.js';

const COMMON_NAME_OID = '2.5.4.3';

export interface NodeCertFields {
  /** Positive, big-endian. */
  serial: Uint8Array;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: SubjectPublicKeyInfo;
}

export class NodeCertSigner {
  private readonly key: KeyObject;
  private readonly issuer: Name;
  private readonly extensions: Extension[];

  /** `extensions`: the DER of each extension, in order. */
  constructor(caCertDer: Uint8Array, caKey: webcrypto.CryptoKey | KeyObject | string, extensions: ArrayBuffer[]) {
    this.key = typeof caKey === 'string' ? createPrivateKey(caKey) : caKey instanceof KeyObject ? caKey : KeyObject.from(caKey);
    this.issuer = AsnConvert.parse(caCertDer, Certificate).tbsCertificate.subject;
    this.extensions = extensions.map((der) => AsnConvert.parse(der, Extension));
  }

  /** The certificate's DER. */
  issue(f: NodeCertFields): Buffer {
    const tbsCertificate = new TBSCertificate({
      version: Version.v3,
      serialNumber: toArrayBuffer(f.serial),
      signature: ecdsaWithSHA256,
      issuer: this.issuer,
      validity: new Validity({ notBefore: f.notBefore, notAfter: f.notAfter }),
      subject: commonNameOnly(f.commonName),
      subjectPublicKeyInfo: f.publicKey,
      extensions: new Extensions(this.extensions),
    });
    const tbs = Buffer.from(AsnConvert.serialize(tbsCertificate));
    const signatureValue = sign('sha256', tbs, { key: this.key, dsaEncoding: 'der' });
    return Buffer.from(AsnConvert.serialize(new Certificate({ tbsCertificate, signatureAlgorithm: ecdsaWithSHA256, signatureValue: toArrayBuffer(signatureValue) })));
  }
}

/** A public key's SubjectPublicKeyInfo from its DER. */
export function parseSpki(der: ArrayBuffer | Uint8Array): SubjectPublicKeyInfo {
  return AsnConvert.parse(der, SubjectPublicKeyInfo);
}

/** `CN=<name>`, its string type chosen as the CA's generic path chooses it (printable if it can be). */
function commonNameOnly(name: string): Name {
  const value = new AttributeValue(x509.Name.isPrintableString(name) ? { printableString: name } : { utf8String: name });
  return new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: COMMON_NAME_OID, value })])]);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
