// Headless Chromium (Debian's `chromium`, driven by playwright-core) for the dashboard's tests and
// benchmark. The API's HTTPS is trusted by key: Chromium accepts certificates whose public key is
// the server's API certificate's or its cluster CA's (`--ignore-certificate-errors-spki-list`,
// SHA-256 of the SubjectPublicKeyInfo), nothing else; no certificate check is switched off.
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from './berth.js';

export const CHROMIUM = '/usr/bin/chromium';

/** base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo, as Chromium's SPKI list wants it. */
export function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Chromium trusting the API of the server whose data dir is `dataDir` (its api.crt and ca.crt). */
export function launchChromium(dataDir: string): Promise<Browser> {
  const hashes = ['api.crt', 'ca.crt'].map((f) => spkiHash(readFileSync(path.join(dataDir, f), 'utf8')));
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      `--ignore-certificate-errors-spki-list=${hashes.join(',')}`,
    ],
  });
}

/** Where a test's screenshots go: $BERTH_TEST_OUTPUT_DIR/NAME, else test-output/NAME (ignored by git). */
export function testOutputDir(name: string): string {
  const dir = path.join(process.env.BERTH_TEST_OUTPUT_DIR ?? path.join(REPO_ROOT, 'test-output'), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
