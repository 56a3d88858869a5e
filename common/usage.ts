// Resource usage as the API shows it (`GET /v1/usage/nodes`, `GET /v1/usage/tasks`): what the
// agents measured of their containers (Docker Engine stats), against what the tasks requested and
// what the nodes offer. Figures are in the units the rest of the model uses: CPU in millicores
// (1000 = one core), memory in bytes.
//
// Owns: the shape of those answers, shared by the control plane, the CLI and the dashboard.
// Must not: import anything of ours but common/.
import type { NodeResources } from './types.js';

/** One node's usage: the sum of its measured containers. */
export interface NodeUsage {
  nodeId: string;
  /** The node's name (`berth get nodes`). */
  node: string;
  /** CPU used by the node's tasks' containers, millicores (averaged over the last sample interval). */
  cpu: number;
  /** Memory used by those containers, bytes (the Engine's usage less the page cache, as `docker stats`). */
  memory: number;
  /** What the node offers to tasks. */
  allocatable: NodeResources;
  /** What the node's live tasks requested (their services' `resources`). */
  requested: NodeResources;
  /** Containers measured in this sample. */
  tasks: number;
  /** When the agent took the sample (ISO time). */
  sampledAt: string;
  /** The server holding the node's session (the one that received the sample). */
  server: string;
}

/** One task's usage (a running container). */
export interface TaskUsage {
  taskId: string;
  /** The task's name (`web.1.x7k2p`). */
  task: string;
  service: string;
  nodeId: string;
  node: string;
  /** Millicores. */
  cpu: number;
  /** Bytes. */
  memory: number;
  /** The service's `resources` (0 where it asks for none). */
  requested: NodeResources;
  sampledAt: string;
  server: string;
}

/**
 * A usage answer. Each server only hears its own agents; the server asked gathers the others'
 * answers (same token), and names the servers that did not answer in `unreachable` (their nodes'
 * figures are then missing from `items`).
 */
export interface UsageList<T> {
  items: T[];
  /** Servers whose nodes are missing because they did not answer. */
  unreachable?: string[];
}

/** What one agent sends: its containers' figures and what it offers (proto UsageReport, converted). */
export interface UsageReport {
  /** What the node offers to tasks. */
  allocatable: NodeResources;
  containers: { taskId: string; cpu: number; memory: number }[];
  /** When it was measured (ms since the epoch). */
  sampledAtMs: number;
}
