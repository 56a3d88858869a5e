// Which compose keys a stack honours and what it says about the others: the one table the
// converter, `berth stack convert`'s report and docs/stacks.md follow.

/** Service keys converted to a Berth service field (see docs/stacks.md for the mapping). */
export const HONOURED_SERVICE_KEYS: ReadonlySet<string> = new Set([
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'tmpfs', 'networks',
  'secrets', 'configs', 'healthcheck', 'depends_on', 'deploy', 'labels', 'user', 'working_dir', 'hostname',
  'stop_grace_period', 'stop_signal', 'init', 'tty', 'cap_add', 'cap_drop', 'sysctls', 'ulimits', 'read_only',
  'logging', 'restart', 'pull_policy', 'cpus', 'mem_limit', 'scale',
]);

/** `deploy:` keys converted. */
export const HONOURED_DEPLOY_KEYS: ReadonlySet<string> = new Set([
  'mode', 'replicas', 'placement', 'resources', 'restart_policy', 'update_config', 'labels', 'endpoint_mode',
]);

export type ReportKind = 'ignored' | 'unsupported' | 'warning';

/** Keys reported with a fixed reason: ignored (harmless on a cluster) or unsupported (changes behaviour). */
export const REPORTED_KEYS: Readonly<Record<string, { kind: ReportKind; reason: string }>> = {
  build: { kind: 'ignored', reason: 'no build on a cluster; use a prebuilt image' },
  container_name: { kind: 'ignored', reason: 'a cluster names each task\'s container itself (<service>.<slot>.<id>)' },
  profiles: { kind: 'ignored', reason: 'every service of the file is deployed' },
  stdin_open: { kind: 'ignored', reason: 'no interactive stdin on a cluster; use berth exec' },
  links: { kind: 'ignored', reason: 'services of a stack reach each other by name on their networks' },
  external_links: { kind: 'unsupported', reason: 'reach other stacks through a shared external network' },
  version: { kind: 'ignored', reason: 'obsolete; the Compose Specification is read whatever it says' },
  shm_size: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  security_opt: { kind: 'unsupported', reason: 'security options are not settable on a Berth service' },
  devices: { kind: 'unsupported', reason: 'host devices are not passed to tasks' },
  privileged: { kind: 'unsupported', reason: 'privileged containers are not run; use cap_add' },
  network_mode: { kind: 'unsupported', reason: 'tasks join the stack\'s networks only' },
  pid: { kind: 'unsupported', reason: 'tasks have their own PID namespace' },
  ipc: { kind: 'unsupported', reason: 'tasks have their own IPC namespace' },
  extra_hosts: { kind: 'unsupported', reason: 'not settable on a Berth service; use service names' },
  dns: { kind: 'unsupported', reason: 'tasks use the cluster\'s DNS' },
  dns_search: { kind: 'unsupported', reason: 'tasks use the cluster\'s DNS' },
  dns_opt: { kind: 'unsupported', reason: 'tasks use the cluster\'s DNS' },
  extends: { kind: 'unsupported', reason: 'merge the files with several -c instead' },
  volumes_from: { kind: 'unsupported', reason: 'tasks of different services may run on different nodes' },
  platform: { kind: 'ignored', reason: 'nodes run the image for their own platform' },
  mem_reservation: { kind: 'ignored', reason: 'Berth reserves what it limits (mem_limit or deploy.resources.limits)' },
  memswap_limit: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  cpu_shares: { kind: 'unsupported', reason: 'use deploy.resources.limits.cpus' },
  cpu_quota: { kind: 'unsupported', reason: 'use deploy.resources.limits.cpus' },
  cpuset: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  oom_score_adj: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  userns_mode: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  cgroup_parent: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  isolation: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  domainname: { kind: 'unsupported', reason: 'not settable on a Berth service' },
  mac_address: { kind: 'unsupported', reason: 'tasks get their addresses from their networks' },
  develop: { kind: 'ignored', reason: 'for local development only' },
  attach: { kind: 'ignored', reason: 'use berth logs' },
};

/** Reason for a key with no entry above. */
export const UNKNOWN_KEY_REASON = 'not a key Berth converts';
