// The interactive exec socket's query: the command, the tty/stdin flags and the terminal size,
// with bad values refused naming the field.
import assert from 'node:assert/strict';
import { parseExecQuery } from '../../control-plane/api/exec-socket.js';

const q = (s: string) => parseExecQuery(new URLSearchParams(s));

describe('interactive exec query', () => {
  it('reads the command (one parameter per argument), the flags and the size', () => {
    assert.deepEqual(q('command=sh&command=-c&command=echo%20hi&tty=1&stdin=true&cols=100&rows=30'), {
      command: ['sh', '-c', 'echo hi'],
      tty: true,
      stdin: true,
      cols: 100,
      rows: 30,
    });
    assert.deepEqual(q('command=cat&stdin=1'), { command: ['cat'], tty: false, stdin: true });
  });

  it('refuses a missing command, a bad flag and a bad size, naming the field', () => {
    assert.match(q('tty=1') as string, /^command: /);
    assert.match(q('command=sh&tty=yes') as string, /^tty: must be true or false/);
    assert.match(q('command=sh&cols=0') as string, /^cols: must be a whole number/);
    assert.match(q('command=sh&rows=1.5') as string, /^rows: must be a whole number/);
  });
});
