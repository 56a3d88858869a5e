// The output formats of `get`: human tables (plain and wide) and machine formats (json, yaml)
// that print the API objects unchanged: one object, or `{ items: [...] }` for a list.
import { stringify as toYaml } from 'yaml';

export const OutputFormat = { Table: 'table', Wide: 'wide', Json: 'json', Yaml: 'yaml' } as const;
export type OutputFormat = (typeof OutputFormat)[keyof typeof OutputFormat];
export const OUTPUT_FORMATS: readonly OutputFormat[] = Object.values(OutputFormat);

export function parseOutputFormat(text: string | undefined): OutputFormat | undefined {
  if (text === undefined) return OutputFormat.Table;
  return OUTPUT_FORMATS.find((f) => f === text);
}

export function renderMachine(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : toYaml(value).trimEnd();
}
