// Which agents a server accepts: its own minor version and the one before, same major; newer
// agents and older ones are refused with a message naming both versions.
import assert from 'node:assert/strict';
import { agentVersionProblem, parseVersion } from '../../common/version.js';

describe('agent and server version compatibility', () => {
  it('parses releases, and nothing else', () => {
    assert.deepEqual(parseVersion('1.4.2'), { major: 1, minor: 4, patch: 2 });
    assert.deepEqual(parseVersion('v0.10.0-rc.1'), { major: 0, minor: 10, patch: 0 });
    assert.equal(parseVersion('hollow'), undefined);
    assert.equal(parseVersion(''), undefined);
  });

  it('accepts the same minor version (any patch) and the one before', () => {
    for (const agent of ['1.4.0', '1.4.9', '1.3.0', '1.3.7']) assert.equal(agentVersionProblem('1.4.2', agent), undefined, agent);
    assert.equal(agentVersionProblem('1.0.0', '1.0.5'), undefined);
    assert.equal(agentVersionProblem('0.1.0', '0.0.9'), undefined);
  });

  it('refuses a newer agent, naming both versions and what to do', () => {
    assert.equal(
      agentVersionProblem('1.4.2', '1.5.0'),
      'agent version 1.5.0 is too new for server version 1.4.2: upgrade the servers first; a server accepts agents of its own minor version and of the one before (1.3.x to 1.4.x)',
    );
    assert.match(agentVersionProblem('1.4.2', '2.0.0')!, /too new for server version 1\.4\.2/);
  });

  it('refuses an agent two minor versions older, or of an older major version', () => {
    assert.match(agentVersionProblem('1.4.2', '1.2.9')!, /^agent version 1\.2\.9 is too old for server version 1\.4\.2: upgrade the agent/);
    assert.match(agentVersionProblem('2.0.0', '1.9.0')!, /too old/);
    assert.match(agentVersionProblem('1.0.0', '0.9.0')!, /too old/);
  });

  it('does not check development builds', () => {
    assert.equal(agentVersionProblem('1.4.2', 'hollow'), undefined);
    assert.equal(agentVersionProblem('unknown', '9.9.9'), undefined);
  });
});
