// The layering of eslint.config.js, proved on deliberately wrong imports: each boundary reports
// its rule, type-only and dynamic imports included, and an allowed import reports nothing. The
// config here is the exported `layering` rules themselves (no type-aware rules, so each text
// lints in milliseconds and no file needs to exist).
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';

// eslint.config.js is plain JS with no declarations: imported by a path TypeScript does not follow.
const CONFIG_MODULE = '../../eslint.config.js';
const { layering } = (await import(CONFIG_MODULE)) as { layering: Linter.Config[] };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const eslint = new ESLint({
  cwd: ROOT,
  overrideConfigFile: true,
  overrideConfig: [tseslint.configs.base, { files: ['**/*.ts'] }, ...layering],
});

/** The rule ids reported for `code` as if it were the file `file` (relative to the repo root). */
async function reported(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result!.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

const STATIC = '@typescript-eslint/no-restricted-imports';
const DYNAMIC = 'no-restricted-syntax';

describe('lint: layering between common/, proto/, control-plane/, agent/ and cli/', () => {
  const wrong: [string, string, string, string][] = [
    ['common -> control-plane', 'common/x.ts', "import { keys } from '../control-plane/store/keys.js';", STATIC],
    ['common -> proto (nested file)', 'common/manifest/x.ts', "import { toPbTask } from '../../proto/convert.js';", STATIC],
    ['proto -> agent', 'proto/x.ts', "import { Agent } from '../agent/agent.js';", STATIC],
    ['control-plane -> agent', 'control-plane/dispatcher/x.ts', "import { Agent } from '../../agent/agent.js';", STATIC],
    ['agent -> control-plane', 'agent/session/x.ts', "import { Store } from '../../control-plane/store/store.js';", STATIC],
    ['control-plane -> cli', 'control-plane/x.ts', "import { main } from '../cli/main.js';", STATIC],
    ['agent -> cli', 'agent/x.ts', "import { main } from '../cli/main.js';", STATIC],
    ['type-only, control-plane -> agent', 'control-plane/dispatcher/x.ts', "import type { TaskWorker } from '../../agent/worker/types.js';", STATIC],
    ['type-only specifier, agent -> control-plane', 'agent/x.ts', "import { type Store } from '../control-plane/store/store.js';", STATIC],
    ['re-export, common -> agent', 'common/x.ts', "export { Agent } from '../agent/agent.js';", STATIC],
    ['dynamic, control-plane -> agent', 'control-plane/x.ts', "export const load = () => import('../agent/agent.js');", DYNAMIC],
    ['client verb -> control plane, statically', 'cli/commands/x.ts', "import { startServer } from '../../control-plane/server.js';", STATIC],
  ];
  for (const [name, file, code, rule] of wrong) {
    it(`reports ${name}`, async () => {
      assert.deepEqual(await reported(file, code), [rule]);
    });
  }

  const allowed: [string, string, string][] = [
    ['control-plane -> common, proto', 'control-plane/dispatcher/x.ts', "import type { Task } from '../../common/types.js';\nimport { loadProto } from '../../proto/load.js';"],
    ['agent -> common, proto, itself', 'agent/session/x.ts', "import { sleep } from '../../common/sleep.js';\nimport { toPbTask } from '../../proto/convert.js';\nimport { Worker } from '../worker/worker.js';"],
    ['proto -> common', 'proto/x.ts', "import type { TaskStatusReport } from '../common/task-status.js';"],
    ['the composition root -> control-plane, agent', 'cli/daemons/x.ts', "import { Agent } from '../../agent/agent.js';\nimport { startServer } from '../../control-plane/server.js';"],
    ['a client verb -> the daemons, lazily', 'cli/commands/x.ts', "export const load = () => import('../daemons/server.js');\nexport const agent = () => import('../../agent/cli.js');"],
    ['tests -> anything', 'test/unit/x.ts', "import { Agent } from '../../agent/agent.js';\nimport { startServer } from '../../control-plane/server.js';"],
  ];
  for (const [name, file, code] of allowed) {
    it(`allows ${name}`, async () => {
      assert.deepEqual(await reported(file, code), []);
    });
  }

  it('the real config has the same rules for each layer', async () => {
    const real = new ESLint({ cwd: ROOT });
    for (const file of ['common/x.ts', 'proto/x.ts', 'control-plane/x.ts', 'agent/x.ts', 'cli/commands/x.ts']) {
      const fromReal = (await real.calculateConfigForFile(path.join(ROOT, file))) as { rules: Record<string, unknown> };
      const fromTest = (await eslint.calculateConfigForFile(path.join(ROOT, file))) as { rules: Record<string, unknown> };
      for (const rule of [STATIC, DYNAMIC]) assert.deepEqual(fromReal.rules[rule], fromTest.rules[rule], `${rule} for ${file}`);
    }
  });
});
