// Key and certificate files: private keys are written 0600 (and re-chmodded, since writeFile's
// mode only applies to a new file), through a temporary file renamed into place so a crash
// never leaves half a key.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writePrivateFile(file: string, content: string): Promise<void> {
  await writeAtomically(file, content, 0o600);
}

export async function writePublicFile(file: string, content: string): Promise<void> {
  await writeAtomically(file, content, 0o644);
}

/** The file's text, or undefined if it does not exist. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}
