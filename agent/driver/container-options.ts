// The Docker Engine create-body fields for a spec's container options (user, working dir,
// hostname, init, tty, read-only root, capabilities, sysctls, ulimits, stop signal, log driver,
// container labels). Owns: that mapping only; docker.ts merges it into the body it builds.
import type { ServiceSpec } from '../../common/types.js';

export interface ContainerFields {
  /** Top-level `Config` fields of POST /containers/create. */
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  /** Labels for the container; Berth's own labels are set after them and win. */
  labels: Record<string, string>;
}

export function containerFields(spec: ServiceSpec): ContainerFields {
  const config: Record<string, unknown> = {};
  const hostConfig: Record<string, unknown> = {};
  if (spec.user !== undefined) config.User = spec.user;
  if (spec.workingDir !== undefined) config.WorkingDir = spec.workingDir;
  if (spec.hostname !== undefined) config.Hostname = spec.hostname;
  if (spec.tty !== undefined) config.Tty = spec.tty;
  if (spec.stopSignal !== undefined) config.StopSignal = spec.stopSignal;
  if (spec.init !== undefined) hostConfig.Init = spec.init;
  if (spec.readOnly !== undefined) hostConfig.ReadonlyRootfs = spec.readOnly;
  if (spec.capAdd?.length) hostConfig.CapAdd = spec.capAdd;
  if (spec.capDrop?.length) hostConfig.CapDrop = spec.capDrop;
  if (spec.sysctls && Object.keys(spec.sysctls).length) hostConfig.Sysctls = spec.sysctls;
  if (spec.ulimits?.length) hostConfig.Ulimits = spec.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  if (spec.dnsSearch?.length) {
    hostConfig.DnsSearch = spec.dnsSearch;
    // The Engine writes ndots:0 on its networks, with which some C libraries never use the search
    // domains: a name without a dot (`db`) is tried with them first, as on a host.
    hostConfig.DnsOptions = ['ndots:1'];
  }
  if (spec.logging) hostConfig.LogConfig = { Type: spec.logging.driver, Config: spec.logging.options ?? {} };
  return { config, hostConfig, labels: { ...spec.containerLabels } };
}
