// Which planner plans a service: deleted, global or replicated. Each takes the same PlanInput
// and returns a Plan (plan.ts); the orchestrator plans every service through planService.
import { planGlobal } from './global.js';
import type { Plan, PlanInput } from './plan.js';
import { planDeleted, planReplicated } from './replicated.js';

export function planService(input: PlanInput): Plan {
  const service = input.service;
  if (!service) return planDeleted(input);
  return service.spec.mode === 'global' ? planGlobal({ ...input, service }) : planReplicated({ ...input, service });
}
