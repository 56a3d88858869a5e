import assert from 'node:assert/strict';
import { convertProject, formatReport, type Conversion, type StackService } from '../../cli/stack/compose-convert.js';
import { loadCompose } from '../../cli/stack/compose-load.js';
import { parseDuration, parseShortPort } from '../../cli/stack/compose-values.js';

function convert(yaml: string, extra: Record<string, string> = {}, opts: { env?: Record<string, string> } = {}): Conversion {
  const files: Record<string, string> = { '/p/compose.yaml': yaml, ...extra };
  const readText = (f: string) => {
    const t = files[f];
    if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return t;
  };
  const env = opts.env ?? {};
  return convertProject(loadCompose(['/p/compose.yaml'], { env, readText }), 'shop', { env, readText, homeDir: '/home/u' });
}
const one = (yaml: string, extra?: Record<string, string>): StackService => convert(yaml, extra).services[0]!;
const service = (body: string) => `services:\n  web:\n    image: web:1\n${body.replace(/^/gm, '    ')}\n`;
const reports = (c: Conversion) => c.reports.map(formatReport);
const fails = (yaml: string, message: RegExp) => assert.throws(() => convert(yaml), (err: Error) => (assert.match(err.message, message), true));

describe('compose conversion', () => {
  it('names a service <stack>-<service> with the stack labels, on the stack\'s default network', () => {
    const c = convert('services:\n  my_api:\n    image: api:2\n');
    const s = c.services[0]!;
    assert.equal(s.metadata.name, 'shop-my-api');
    assert.deepEqual(s.metadata.labels, { 'berth.stack': 'shop', 'berth.stack.service': 'my_api' });
    assert.deepEqual(s.spec, { image: 'api:2', networks: ['shop_default'], dnsSearch: ['shop.berth', 'berth'] });
    assert.deepEqual(c.objects, [{ kind: 'Network', name: 'shop_default', composeName: 'default' }]);
  });

  it('command and entrypoint, as strings (split as a shell would) or lists', () => {
    assert.deepEqual(one(service('entrypoint: /bin/sh -c\ncommand: "echo \'a b\' c"')).spec.command, ['/bin/sh', '-c']);
    assert.deepEqual(one(service('command: "echo \'a b\' c"')).spec.args, ['echo', 'a b', 'c']);
    assert.deepEqual(one(service('command: [npm, start]')).spec.args, ['npm', 'start']);
  });

  it('environment (list or map, a bare name from the environment) and env_file', () => {
    const s = convert(service('env_file: [app.env]\nenvironment:\n  - A=1\n  - FROM_SHELL\n  - discovery.type=single-node'), { '/p/app.env': 'A=0\nB=2\n' }, { env: { FROM_SHELL: 'x' } }).services[0]!;
    assert.deepEqual(s.spec.env, { A: '1', B: '2', FROM_SHELL: 'x', 'discovery.type': 'single-node' });
    assert.deepEqual(one(service('environment: { N: 5, T: true, E: "" }')).spec.env, { N: '5', T: 'true', E: '' });
  });

  it('ports: short syntax with host IP, ranges and /udp; long syntax', () => {
    const s = one(service('ports:\n  - "127.0.0.1:8080:80"\n  - "9000-9001:9000-9001/udp"\n  - 3000\n  - { target: 443, published: "8443", protocol: tcp, mode: host }'));
    assert.deepEqual(s.spec.ports, [
      { containerPort: 80, hostPort: 8080, hostIp: '127.0.0.1' },
      { containerPort: 9000, hostPort: 9000, protocol: 'udp' },
      { containerPort: 9001, hostPort: 9001, protocol: 'udp' },
      { containerPort: 3000 },
      { containerPort: 443, hostPort: 8443 },
    ]);
    assert.deepEqual(parseShortPort('[::1]:53:53/udp'), [{ containerPort: 53, hostPort: 53, protocol: 'udp', hostIp: '::1' }]);
  });

  it('an invalid port names the file, line, service and key', () => {
    fails(service('ports:\n  - "8080:80"\n  - "80:80:80"'), /^compose\.yaml:6 services\.web\.ports\[1\]: "80:80:80" is not a valid port mapping$/);
  });

  it('volumes: named (stack-scoped unless external), bind (relative to the file), tmpfs; short and long', () => {
    const c = convert(
      service('volumes:\n  - data:/var/lib/data\n  - shared:/shared:ro\n  - ./conf:/etc/conf:ro\n  - ~/x:/x\n  - { type: tmpfs, target: /cache, tmpfs: { size: 64M } }\n  - { type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock, read_only: true }\ntmpfs: /run') +
        'volumes:\n  data:\n  shared:\n    external: true\n',
    );
    assert.deepEqual(c.services[0]!.spec.volumes, [
      { name: 'shop-data', target: '/var/lib/data' },
      { name: 'shared', target: '/shared', readOnly: true },
      { hostPath: '/p/conf', target: '/etc/conf', readOnly: true },
      { hostPath: '/home/u/x', target: '/x' },
      { tmpfs: true, target: '/cache', sizeBytes: 64 * 1024 * 1024 },
      { hostPath: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: true },
      { tmpfs: true, target: '/run' },
    ]);
    assert.deepEqual(c.objects.filter((o) => o.kind === 'Volume'), [
      { kind: 'Volume', name: 'shop-data', composeName: 'data' },
      { kind: 'Volume', name: 'shared', composeName: 'shared', external: true },
    ]);
    assert.ok(reports(c).some((r) => r.startsWith('warning: volumes (service web): relative bind mounts')));
    fails(service('volumes: ["nodecl:/x"]'), /compose\.yaml:\d+ services\.web\.volumes\[0\]: volume "nodecl" is not declared/);
  });

  it('networks (list or map), secrets and configs with stack-scoped names', () => {
    const yaml =
      service('networks:\n  front:\n    aliases: [www]\n  proxy:\nsecrets:\n  - db_pass\n  - { source: api_key, target: key, mode: 0400 }\nconfigs:\n  - source: conf\n    target: /etc/app.conf') +
      'networks:\n  front:\n    driver: overlay\n  proxy:\n    external: true\nsecrets:\n  db_pass:\n    file: ./secrets/db.txt\n  api_key:\n    external: true\n    name: prod_api_key\nconfigs:\n  conf:\n    file: app.conf\n';
    const c = convert(yaml);
    const spec = c.services[0]!.spec;
    assert.deepEqual(spec.networks, ['shop_front', 'proxy']);
    assert.deepEqual(spec.secrets, [{ source: 'shop-db_pass', target: '/run/secrets/db_pass' }, { source: 'prod_api_key', target: '/run/secrets/key', mode: 0o400 }]);
    assert.deepEqual(spec.configs, [{ source: 'shop_conf', target: '/etc/app.conf' }]);
    assert.deepEqual(c.objects, [
      { kind: 'Network', name: 'shop_front', composeName: 'front', driver: 'overlay' },
      { kind: 'Network', name: 'proxy', composeName: 'proxy', external: true },
      { kind: 'Secret', name: 'shop-db_pass', composeName: 'db_pass', file: '/p/secrets/db.txt' },
      { kind: 'Secret', name: 'prod_api_key', composeName: 'api_key', external: true },
      { kind: 'Config', name: 'shop_conf', composeName: 'conf', file: '/p/app.conf' },
    ]);
    assert.deepEqual(reports(c), ['unsupported: networks.aliases (service web): a service is found by its compose service name only']);
  });

  it('healthcheck: string, CMD, CMD-SHELL, durations, disable', () => {
    assert.deepEqual(one(service('healthcheck:\n  test: ["CMD", "pg_isready", "-U", "app"]\n  interval: 1m30s\n  timeout: 500ms\n  retries: 5\n  start_period: 2m')).spec.healthCheck, {
      exec: { command: ['pg_isready', '-U', 'app'] },
      intervalSeconds: 90,
      timeoutSeconds: 0.5,
      failureThreshold: 5,
      startPeriodSeconds: 120,
    });
    assert.deepEqual(one(service('healthcheck:\n  test: ["CMD-SHELL", "curl -f http://localhost || exit 1"]')).spec.healthCheck, { exec: { command: ['/bin/sh', '-c', 'curl -f http://localhost || exit 1'] } });
    assert.deepEqual(one(service('healthcheck:\n  test: wget -q localhost')).spec.healthCheck, { exec: { command: ['/bin/sh', '-c', 'wget -q localhost'] } });
    assert.equal(one(service('healthcheck:\n  disable: true')).spec.healthCheck, undefined);
    assert.equal(one(service('healthcheck:\n  test: ["NONE"]')).spec.healthCheck, undefined);
    assert.equal(parseDuration('1h2m3.5s'), 3723.5);
    fails(service('healthcheck:\n  test: [CMD, x]\n  interval: soon'), /compose\.yaml:\d+ services\.web\.healthcheck: "soon" is not a valid duration/);
  });

  it('depends_on: list and long form, as dependsOn with Berth names', () => {
    const c = convert('services:\n  web:\n    image: w\n    depends_on:\n      db: { condition: service_healthy }\n      migrate: { condition: service_completed_successfully }\n  api:\n    image: a\n    depends_on: [db]\n  db:\n    image: d\n  migrate:\n    image: m\n');
    assert.deepEqual(c.services[0]!.spec.dependsOn, [{ service: 'shop-db', condition: 'healthy' }, { service: 'shop-migrate', condition: 'completed' }]);
    assert.deepEqual(c.services[1]!.spec.dependsOn, [{ service: 'shop-db', condition: 'started' }]);
    fails('services:\n  web:\n    image: w\n    depends_on: [nope]\n', /services\.web\.depends_on\.nope: service "nope" is not defined/);
  });

  it('container options: user, working_dir, hostname, init, tty, read_only, capabilities, sysctls, ulimits, stop signal and grace, logging, labels', () => {
    const s = one(
      service(
        'user: "1000:1000"\nworking_dir: /app\nhostname: web1\ninit: true\ntty: true\nread_only: true\ncap_add: [net_admin]\ncap_drop: [ALL]\n' +
          'sysctls: [net.core.somaxconn=1024]\nulimits:\n  nproc: 65535\n  nofile: { soft: 20000, hard: 40000 }\nstop_signal: SIGINT\nstop_grace_period: 1m\n' +
          'logging:\n  driver: json-file\n  options: { max-size: 10m }\nlabels: [com.example.x=Host(`a.b`)]',
      ),
    );
    const { dnsSearch: _d, ...spec } = s.spec;
    assert.deepEqual(spec, {
      image: 'web:1',
      user: '1000:1000',
      workingDir: '/app',
      hostname: 'web1',
      init: true,
      tty: true,
      readOnly: true,
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      sysctls: { 'net.core.somaxconn': '1024' },
      ulimits: [{ name: 'nproc', soft: 65535, hard: 65535 }, { name: 'nofile', soft: 20000, hard: 40000 }],
      stopSignal: 'SIGINT',
      stopGracePeriodSeconds: 60,
      logging: { driver: 'json-file', options: { 'max-size': '10m' } },
      containerLabels: { 'com.example.x': 'Host(`a.b`)' },
      networks: ['shop_default'],
    });
  });

  it('deploy: mode, replicas, placement, resources, restart_policy, update_config, labels', () => {
    const s = one(
      service(
        'deploy:\n  replicas: 3\n  labels: { team: shop }\n  placement:\n    constraints: [node.labels.ssd == true, node.hostname == n1, node.role == worker, node.platform.os == linux]\n    max_replicas_per_node: 1\n' +
          '  resources:\n    limits: { cpus: "0.50", memory: 1.5G }\n    reservations: { memory: 64M }\n  restart_policy: { condition: on-failure, delay: 5s, max_attempts: 3, window: 2m }\n' +
          '  update_config: { parallelism: 2, delay: 10s, failure_action: rollback, order: start-first, monitor: 30s, max_failure_ratio: 0.1 }',
      ),
    );
    assert.equal(s.metadata.labels?.team, 'shop');
    const { networks: _n, dnsSearch: _d, ...spec } = s.spec;
    assert.deepEqual(spec, {
      image: 'web:1',
      replicas: 3,
      placement: { constraints: ['node.labels.ssd == true', 'node.name == n1'], maxPerNode: 1 },
      resources: { cpu: '0.5', memory: '1536Mi' },
      restartPolicy: { condition: 'on-failure', delaySeconds: 5, maxAttempts: 3 },
      update: { parallelism: 2, delaySeconds: 10, failureAction: 'rollback', order: 'start-first', monitorSeconds: 30, maxFailureRatio: 0.1 },
    });
  });

  it('deploy.mode global and replicated-job; global-job is reported', () => {
    assert.equal(one(service('deploy: { mode: global }')).spec.mode, 'global');
    const job = one(service('restart: always\ndeploy: { mode: replicated-job, replicas: 4, max_concurrent: 2 }'));
    assert.deepEqual([job.spec.mode, job.spec.completions, job.spec.parallelism, job.spec.replicas, job.spec.restartPolicy], ['job', 4, 2, undefined, { condition: 'on-failure' }]);
    assert.equal(one(service('deploy: { mode: replicated-job, replicas: 3 }')).spec.parallelism, 3, 'max_concurrent defaults to replicas');
    const c = convert(service('deploy: { mode: global-job }'));
    assert.equal(c.services[0]!.spec.mode, 'job');
    assert.match(reports(c)[0]!, /^unsupported: deploy\.mode \(service web\): global-job/);
  });

  it('restart maps to the restart policy as compose users expect; deploy.restart_policy wins', () => {
    const rp = (v: string) => one(service(`restart: ${v}`)).spec.restartPolicy;
    assert.deepEqual(rp('"no"'), { condition: 'none' });
    assert.deepEqual(rp('always'), { condition: 'any' });
    assert.deepEqual(rp('unless-stopped'), { condition: 'any' });
    assert.deepEqual(rp('on-failure:3'), { condition: 'on-failure', maxAttempts: 3 });
    assert.deepEqual(one(service('restart: always\ndeploy: { restart_policy: { condition: none } }')).spec.restartPolicy, { condition: 'none' });
  });

  it('reports every other key once, naming the services, and build without image is an error', () => {
    const c = convert('services:\n  a:\n    image: a\n    build: .\n    container_name: x\n    devices: ["/dev/fuse"]\n  b:\n    image: b\n    container_name: y\n    frobnicate: 1\n');
    assert.deepEqual(reports(c), [
      'ignored: build (service a): no build on a cluster; use a prebuilt image',
      "ignored: container_name (services a, b): a cluster names each task's container itself (<service>.<slot>.<id>)",
      'unsupported: devices (service a): host devices are not passed to tasks',
      'unsupported: frobnicate (service b): not a key Berth converts',
    ]);
    fails('services:\n  api:\n    build: ./api\n', /^compose\.yaml:2 services\.api: has build: and no image: there is no build on a cluster/);
  });

  it('every converted service is a valid Berth manifest, or the conversion says which field is not', () => {
    fails(service('ulimits: { nofile: { soft: 10, hard: 5 } }'), /services\.web\.ulimits\.nofile: soft 10 is above hard 5/);
    fails(service('hostname: "not a hostname!"'), /services\.web: converted spec\.hostname: must match/);
  });
});

describe('stack deploy: what is sent', () => {
  it('leaves networks out with a warning, passes volumes, secrets and configs on', async () => {
    const { deployable } = await import('../../cli/stack/stack-ops.js');
    const warnings: string[] = [];
    const services = deployable(convert(service('user: "1"\ndepends_on: []')), (l) => warnings.push(l));
    assert.deepEqual(services.map((s) => s.spec), [{ image: 'web:1', user: '1', dnsSearch: ['shop.berth', 'berth'] }]);
    assert.deepEqual(warnings, ['warning: networks: not applied: stack deploy does not create the stack\'s networks yet (its services share the default network)']);
    // Volumes, secrets and configs are this cluster's (the server validates them at apply).
    const withVolume = convert(service('volumes: ["data:/d"]') + 'volumes:\n  data:\n');
    assert.deepEqual(deployable(withVolume, () => undefined)[0]!.spec.volumes, [{ name: 'shop-data', target: '/d' }]);
    const withConfig = convert(service('configs: [conf]') + 'configs:\n  conf:\n    file: app.conf\n');
    assert.deepEqual(deployable(withConfig, () => undefined)[0]!.spec.configs, [{ source: 'shop_conf', target: '/conf' }]);
  });
});
