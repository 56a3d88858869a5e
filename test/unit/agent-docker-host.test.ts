import assert from 'node:assert/strict';
import { dockerSocketOf, parseAgentFlags } from '../../agent/cli.js';

describe('berth agent --docker-host', () => {
  it('takes unix:///PATH or PATH, else a unix:// DOCKER_HOST, else the default socket', () => {
    assert.equal(dockerSocketOf('unix:///run/a.sock', undefined), '/run/a.sock');
    assert.equal(dockerSocketOf('/run/b.sock', 'unix:///run/env.sock'), '/run/b.sock');
    assert.equal(dockerSocketOf(undefined, 'unix:///run/env.sock'), '/run/env.sock');
    assert.equal(dockerSocketOf(undefined, 'tcp://10.0.0.1:2375'), '/var/run/docker.sock');
    assert.equal(dockerSocketOf(undefined, undefined), '/var/run/docker.sock');
  });

  it('refuses anything but a unix socket, naming the flag', () => {
    assert.throws(() => parseAgentFlags(['--server', 'h:1', '--token', 'x', '--docker-host', 'tcp://h:2375']), /--docker-host "tcp:\/\/h:2375": expected unix:\/\/\/PATH/);
  });
});
