// GET /ui/ and its files: the web dashboard (docs/dashboard.md), static files shipped with the
// build (`ui/` copied to `dist/ui/`), served without a token (they hold no cluster data: the
// page asks for a token and calls the API with it). Every answer carries a Content-Security-Policy
// that allows this origin only: no outside script, style, image, font or connection.
//
// Owns: which files exist under /ui/ (read once, at start; nothing outside the folder can be
// named), their content types and security headers. Must not: serve anything that needs a token.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The dashboard's files: `ui/` beside `control-plane/` (in the repository and in dist/). */
export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'ui');

export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  // 'self' covers the same origin's wss:// (the watch WebSocket).
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface UiFile {
  type: string;
  body: Buffer;
}

/** Every file under `dir` by its path relative to it (`/` separated). */
export function loadUiFiles(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  if (!existsSync(dir)) return files;
  const walk = (sub: string) => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = sub ? `${sub}/${name}` : name;
      const full = path.join(dir, rel);
      if (statSync(full).isDirectory()) walk(rel);
      else {
        const type = TYPES[path.extname(name)];
        if (type) files.set(rel, { type, body: readFileSync(full) });
      }
    }
  };
  walk('');
  return files;
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

export function uiRoutes(app: FastifyInstance, dir = UI_DIR): void {
  const files = loadUiFiles(dir);
  const hidden = { tags: ['ui'] };
  app.get('/ui', { config: { permission: 'public' }, schema: { ...hidden, summary: 'The dashboard (redirects to /ui/)' } }, (_req, reply) =>
    secure(reply).redirect('/ui/'),
  );
  app.get<{ Params: { '*': string } }>(
    '/ui/*',
    { config: { permission: 'public' }, schema: { ...hidden, summary: 'The web dashboard: static files' } },
    async (req, reply) => {
      const rel = req.params['*'] || 'index.html';
      const file = files.get(rel);
      secure(reply);
      if (!file) {
        const message = files.size === 0 ? `the dashboard's files are missing (${dir}); build with npm run build` : `no dashboard file ${rel}`;
        return reply.code(404).type('application/json').send({ error: 'NotFound', message });
      }
      return reply.type(file.type).send(file.body);
    },
  );
}
