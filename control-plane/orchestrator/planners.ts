// Which planner plans a service: deleted, global, job or replicated. Each takes the same PlanInput
// and returns a Plan (plan.ts); the orchestrator plans every service through planService.
import { planGlobal } from './global.js';
import { planJob } from './job.js';
import type { Plan, PlanInput } from './plan.js';
import { planDeleted, planReplicated } from './replicated.js';

export function planService(input: PlanInput): Plan {
  const service = input.service;
  if (!service) return planDeleted(input);
  if (service.spec.mode === 'global') return planGlobal({ ...input, service });
  if (service.spec.mode === 'job') return planJob({ ...input, service });
  return planReplicated({ ...input, service });
}
