// Lint rules that catch the bugs a scheduler cannot afford: forgotten promises, import cycles,
// and imports across the layers (docs/architecture.md, "Layers").
import tseslint from 'typescript-eslint';
import noImportCycle from './test/lint/no-import-cycle.js';

// Which top-level folders each folder must not import, type-only imports included. test/, the
// bench (test/bench/) and bin/ may import anything.
const LAYERS = [
  { folder: 'common', forbidden: ['proto', 'control-plane', 'agent', 'cli'], why: 'common/ imports none of the other folders' },
  { folder: 'proto', forbidden: ['control-plane', 'agent', 'cli'], why: 'proto/ imports only common/' },
  { folder: 'control-plane', forbidden: ['agent', 'cli'], why: 'the control plane imports neither the agent nor cli/; cli/daemons/ composes them' },
  { folder: 'agent', forbidden: ['control-plane', 'cli'], why: 'the agent imports neither the control plane nor cli/; cli/daemons/ composes them' },
];
// Client verbs never load the daemons: only cli/daemons/ (itself imported lazily) may import
// them statically; the rest of cli/ only through import().
const CLI_LAZY = { folder: 'cli', ignores: ['cli/daemons/**'], forbidden: ['control-plane', 'agent'], why: 'cli/ imports the daemons lazily (import()), or from cli/daemons/' };

/** A relative import specifier that climbs to one of `folders` (`../../agent/...`). */
const climbsTo = (folders) => `^(\\.\\./)+(${folders.join('|')})/`;

function staticImportRule({ forbidden, why }) {
  return ['error', { patterns: [{ regex: climbsTo(forbidden), allowTypeImports: false, message: `${why}.` }] }];
}

function dynamicImportRule({ forbidden, why }) {
  const source = climbsTo(forbidden).replaceAll('/', '\\/');
  return ['error', { selector: `ImportExpression[source.value=/${source}/]`, message: `${why}.` }];
}

/** The layering rules, one config object per folder; the lint test builds its config from these. */
export const layering = [
  ...LAYERS.map((layer) => ({
    files: [`${layer.folder}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': staticImportRule(layer),
      'no-restricted-syntax': dynamicImportRule(layer),
    },
  })),
  { files: [`${CLI_LAZY.folder}/**/*.ts`], ignores: CLI_LAZY.ignores, rules: { '@typescript-eslint/no-restricted-imports': staticImportRule(CLI_LAZY) } },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'proto/generated/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { berth: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'berth/no-import-cycle': 'error',
    },
  },
  ...layering,
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
