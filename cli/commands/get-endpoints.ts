// `berth get endpoints [SERVICE]`: each service's virtual address and the ready tasks behind it
// with their cluster addresses (GET /v1/endpoints; docs/networking.md).
import { boolOpt, stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import { renderMachine, type OutputFormat } from '../output/format.js';
import { renderTable } from '../output/table.js';

export const ENDPOINT_KIND_NAMES: readonly string[] = ['endpoints', 'endpoint', 'ep'];

export interface EndpointsView {
  service: string;
  vip: string;
  endpoints: { task: string; node: string; address: string }[];
}

export async function getEndpoints(ctx: CommandContext, args: ParsedArgs, format: OutputFormat): Promise<number> {
  const output = stringOpt(args.values, 'output');
  if (boolOpt(args.values, 'watch') || stringOpt(args.values, 'selector') !== undefined || (output !== undefined && !['table', 'wide', 'json', 'yaml'].includes(output))) {
    throw new UsageError('get endpoints prints a table, or -o json|yaml (no -w, -l or script output)', 'get');
  }
  const names = args.positionals.slice(1);
  if (names.length > 1) throw new UsageError('get takes at most one SERVICE', 'get');
  const service = names[0];
  const query = service !== undefined ? `?service=${encodeURIComponent(service)}` : '';
  const { items } = await ctx.client().request<{ items: EndpointsView[] }>('GET', `/v1/endpoints${query}`);
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine(service !== undefined ? items[0] : { items }, format));
    return 0;
  }
  if (!items.length) {
    ctx.err('No endpoints found (services have virtual addresses when the server runs with --service-addresses).');
    return 0;
  }
  const wide = format === 'wide';
  const rows = items.map((e) => {
    const list = e.endpoints.map((x) => (wide ? `${x.address} (${x.task} on ${x.node})` : x.address));
    return [e.service, e.vip, list.length ? list.join(', ') : '<none>'];
  });
  ctx.out(renderTable(['SERVICE', 'VIRTUAL ADDRESS', 'READY TASKS'], rows));
  return 0;
}
