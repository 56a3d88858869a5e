// Keys of revisions and rollouts under the store prefix (beside services/ and tasks/).
// Revision numbers are zero-padded so a prefix list returns them in order.

export const rolloutKeys = {
  revisions: (service: string) => `revisions/${service}/`,
  revision: (service: string, n: number) => `revisions/${service}/${String(n).padStart(10, '0')}`,
  updates: 'updates/',
  update: (service: string) => `updates/${service}`,
} as const;
