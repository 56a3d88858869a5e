// `berth exec -it` and `-i` as a user sees them: a real server (TLS), a docker-runtime agent and
// a busybox container; bytes travel terminal -> CLI -> API WebSocket -> dispatcher -> agent ->
// Engine exec (hijacked, with a TTY) and back. The terminal is a pseudo-terminal driven from
// python3's pty module, which also resizes it as a window would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { ensureTestImages, removeContainersOfNode, testNodeName } from '../helpers/docker.js';
import { eventually } from '../helpers/etcd.js';
import { berthArgv, childEnv, ok, REPO_ROOT, runBerth, spawnBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';

const SHELL = `apiVersion: berth/v1
kind: Service
metadata:
  name: shell
spec:
  image: berth/busybox:latest
  command: ["sleep", "3600"]
  replicas: 1
  resources:
    cpu: 50m
    memory: 16Mi
`;

// Runs argv on a new pseudo-terminal (24 rows, 80 columns) and plays the steps: send text,
// expect text (bounded wait), resize the terminal, or send a line until a text answers it.
// Prints {exit, output} as JSON.
const PTY_DRIVER = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios, time
argv, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
def size(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
size(24, 80)
out = b''
def read(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            d = os.read(fd, 4096)
        except OSError:
            return False
        if not d:
            return False
        out += d
    return True
def wait_for(text, seconds, since):
    end = time.time() + seconds
    while text.encode() not in out[since:]:
        if time.time() > end or not read(0.2):
            return False
    return True
failed = None
for s in steps:
    if s[0] == 'send':
        os.write(fd, s[1].encode())
    elif s[0] == 'expect':
        if not wait_for(s[1], 60, 0):
            failed = 'never saw ' + s[1]
            break
    elif s[0] == 'pause':
        read(s[1])
    elif s[0] == 'size':
        size(s[1], s[2])
    elif s[0] == 'until':
        seen = False
        for _ in range(30):
            mark = len(out)
            os.write(fd, s[1].encode())
            if wait_for(s[2], 1, mark):
                seen = True
                break
        if not seen:
            failed = 'never saw ' + s[2]
            break
if failed:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
read(0.5)
print(json.dumps({'exit': os.waitstatus_to_exitcode(status), 'failed': failed, 'output': out.decode('utf8', 'replace')}))
`;

function onPty(args: string[], steps: unknown[]): Promise<{ exit: number; failed: string | null; output: string }> {
  const argv = [process.execPath, ...berthArgv(args)];
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PTY_DRIVER, JSON.stringify(argv), JSON.stringify(steps)], { cwd: REPO_ROOT, env: childEnv(), stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(stdout) as { exit: number; failed: string | null; output: string });
      } catch {
        reject(new Error(`pty driver ended with ${code}: ${stderr} ${stdout}`));
      }
    });
  });
}

describe('e2e: berth exec -it and -i through a docker agent', function () {
  this.timeout(240_000);
  let server: TestServer;
  let agent: TestAgent | undefined;
  let task: Task;
  const node = testNodeName('execit');
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });

  before(async () => {
    await ensureTestImages();
    server = await startServer();
    agent = startAgent(server, { name: node, runtime: 'docker' });
    await eventually(async () => new RegExp(`^${node} +ready `, 'm').test((await berth('get', 'nodes')).stdout), 30_000, `${node} ready`);
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: SHELL }));
    task = (await eventually(async () => {
      const items = (JSON.parse(ok(await berth('get', 'tasks', '--service', 'shell', '-o', 'json')).stdout) as { items: Task[] }).items;
      return items.find((t) => t.status.state === 'running');
    }, 60_000, 'the shell task running'))!;
  });

  after(async () => {
    if (server) await berth('delete', 'service', 'shell').catch(() => undefined);
    await agent?.stop();
    await removeContainersOfNode(node);
    await server?.stop();
  });

  it('-it gives a terminal: tty, typed input, the window size and its changes, Ctrl-C to the command, the exit code', async () => {
    assert.match(server.url, /^https:/);
    const r = await onPty(['--config', server.configPath, 'exec', '-it', task.name, '--', 'sh'], [
      ['send', 'tty\n'],
      ['expect', '/dev/pts/'],
      ['send', 'echo typed-$((1+2))\n'],
      ['expect', 'typed-3'],
      ['until', 'stty size\n', '24 80'],
      ['size', 30, 100],
      ['until', 'stty size\n', '30 100'],
      // Ctrl-C once the sleep runs (while the shell reads a line, its line editor would take it).
      ['send', 'echo sleeping-$((5*5)); sleep 60; echo not-interrupted\n'],
      ['expect', 'sleeping-25'],
      ['pause', 1],
      ['send', '\x03'],
      ['send', 'echo after-$((2+2))\n'],
      ['expect', 'after-4'],
      ['send', 'exit 3\n'],
    ]);
    if (process.env.BERTH_TEST_SHOW_PTY) console.log(JSON.stringify(r.output));
    assert.equal(r.failed, null, r.output);
    assert.equal(r.exit, 3, r.output);
    assert.doesNotMatch(r.output, /\nnot-interrupted/);
  });

  it('-i sends piped stdin to the command and its end ends it', async () => {
    const r = await runBerth(['exec', '-i', task.name, '--', 'cat'], { config: server.configPath, input: 'hello\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    const failing = await runBerth(['exec', '-i', task.name, '--', 'sh', '-c', 'read x; echo got-$x >&2; exit 5'], { config: server.configPath, input: 'word\n' });
    assert.equal(failing.code, 5, failing.stderr);
    assert.equal(failing.stderr, 'got-word\n');
    // More output than the API keeps in flight: paused and resumed at the agent, nothing lost.
    const big = await runBerth(['exec', '-i', task.name, '--', 'sh', '-c', "cat >/dev/null; head -c 3000000 /dev/zero | tr '\\0' x"], {
      config: server.configPath,
      input: 'x',
    });
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, 3_000_000);
    assert.match(big.stdout, /^x+$/);
  });

  it('a client that goes away ends the command in the container', async () => {
    const client = spawnBerth(['--config', server.configPath, 'exec', '-i', task.name, '--', 'sh', '-c', 'echo started; sleep 47']);
    await eventually(() => client.stdout().includes('started'), 30_000, `the command started; stderr: ${client.stderr()}`);
    await client.stop('SIGKILL');
    await eventually(async () => {
      const r = await berth('exec', task.name, '--', 'sh', '-c', 'ps -o args | grep -c "^sleep 47" || true');
      return r.stdout.trim() === '0';
    }, 20_000, 'no sleep 47 left in the container');
  });

  it('a viewer token is refused; both calls are in the audit', async () => {
    const token = ok(await berth('token', 'create', 'watcher', '--role', 'viewer')).stdout.trim();
    const as = (...args: string[]) => runBerth(['--server', server.url, '--token', token, '--certificate-authority', path.join(server.dataDir, 'ca.crt'), ...args]);
    const refused = await as('exec', '-i', task.name, '--', 'cat');
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /role viewer lacks permission tasks:exec/);
    const rows = (await eventually(async () => {
      const out = ok(await berth('get', 'audit')).stdout;
      return /watcher +viewer .*exec \(interactive\) .*refused/.test(out) ? out : undefined;
    }, 10_000, 'the refused exec in the audit'))!;
    assert.match(rows, new RegExp(`\\n\\S+ +admin +admin +127\\.0\\.0\\.1 +GET /v1/tasks/:ref/exec \\(interactive\\) +task/${task.name.replace(/\./g, '\\.')} +200`));
  });
});
