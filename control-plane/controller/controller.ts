// The shape every controller of the control plane has (orchestrator, scheduler, status writer,
// task counts, event recorder): informers -> work queue of keys (work-queue.ts) -> pure planner
// -> applier. Whatever starts controllers (the server's lifecycle, later leadership) starts and
// stops them through this and nothing else.

export interface Controller {
  /** Starts watching and working; resolves once the controller's caches are filled. */
  start(): Promise<void> | void;
  /** Stops working and waits for the work in flight. Safe to call more than once. */
  stop(): Promise<void>;
}
