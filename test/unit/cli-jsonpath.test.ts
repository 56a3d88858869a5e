import assert from 'node:assert/strict';
import { parseJsonPath, renderJsonPath } from '../../cli/jsonpath.js';
import { parseScriptOutput, renderScriptOutput } from '../../cli/output/script-output.js';
import { Kind } from '../../cli/resources.js';
import { agentService, pendingTask, runningTask, webService } from '../helpers/berth.js';

const jp = (template: string, data: unknown) => renderJsonPath(parseJsonPath(template), data);

describe('cli jsonpath', () => {
  it('fields, nested fields, indexes (also negative) and slices', () => {
    assert.equal(jp('{.metadata.name}', webService), 'web');
    assert.equal(jp('{.spec.ports[0].containerPort}', webService), '8080');
    assert.equal(jp('{.spec.ports[-1].protocol}', webService), 'udp');
    assert.equal(jp('{.spec.ports[0:1]}', webService), '{"containerPort":8080}');
    assert.equal(jp('{metadata.name}', webService), 'web', 'leading dot optional');
    assert.equal(jp("{.metadata.labels['app']}", webService), 'web');
  });

  it('[*] and .* spread, results joined by spaces; objects print as JSON', () => {
    const list = { items: [webService, agentService] };
    assert.equal(jp('{.items[*].metadata.name}', list), 'web log-agent');
    assert.equal(jp('{.spec.env}', webService), '{"MODE":"prod"}');
    assert.equal(jp('{.spec.env.*}', webService), 'prod');
    assert.equal(jp('{.spec.replicas}', webService), '6');
  });

  it('literal text and string literals with escapes', () => {
    assert.equal(jp('name={.metadata.name}{"\\n"}', webService), 'name=web\n');
    assert.equal(jp('{.metadata.name}{"\\t"}{.spec.image}', webService), 'web\tberth/web:1');
  });

  it('range ... end iterates, with paths relative to the element', () => {
    const list = { items: [runningTask, pendingTask] };
    assert.equal(jp('{range .items[*]}{.name}:{.status.state};{end}', list), 'web.1.a1b2c3:running;web.10.ffeedd:pending;');
    assert.equal(jp('{range .items}{.slot} {end}', list), '1 10 ');
  });

  it('recursive descent and filters', () => {
    const list = { items: [runningTask, pendingTask] };
    assert.equal(jp('{..containerPort}', webService), '8080 9090');
    assert.equal(jp('{.items[?(@.status.state=="running")].name}', list), 'web.1.a1b2c3');
    assert.equal(jp('{.items[?(@.slot>1)].name}', list), 'web.10.ffeedd');
    assert.equal(jp('{.items[?(@.nodeId)].name}', list), 'web.1.a1b2c3');
  });

  it('a missing field prints nothing rather than failing', () => {
    assert.equal(jp('[{.spec.nothing.here}]', webService), '[]');
    assert.equal(jp('{.spec.ports[7]}', webService), '');
  });

  it('malformed templates are one clear error', () => {
    assert.throws(() => parseJsonPath('{.metadata.name'), /invalid jsonpath template "\{\.metadata\.name": unclosed "\{"/);
    assert.throws(() => parseJsonPath('{range .items[*]}{.x}'), /without "\{end\}"/);
    assert.throws(() => parseJsonPath('{end}'), /without "\{range/);
    assert.throws(() => parseJsonPath('{.a[}'), /unclosed "\["/);
    assert.throws(() => parseJsonPath('{.a[?(@.b==x)]}'), /quote strings/);
  });

  it('-o forms: name, jsonpath per item, or once over the list when it addresses .items', () => {
    assert.equal(parseScriptOutput('table'), undefined);
    const name = parseScriptOutput('name');
    assert.ok(name);
    assert.equal(renderScriptOutput(name, Kind.Service, false, [webService, agentService]), 'service/web\nservice/log-agent');
    assert.equal(renderScriptOutput(name, Kind.Task, true, [runningTask]), 'task/web.1.a1b2c3');
    const perItem = parseScriptOutput('jsonpath={.metadata.name}');
    assert.ok(perItem);
    assert.equal(renderScriptOutput(perItem, Kind.Service, false, [webService, agentService]), 'web\nlog-agent');
    const overList = parseScriptOutput("jsonpath='{.items[*].metadata.name}'");
    assert.ok(overList);
    assert.equal(renderScriptOutput(overList, Kind.Service, false, [webService, agentService]), 'web log-agent', 'shell quotes stripped');
  });
});
