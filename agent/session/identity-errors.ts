// Why an agent cannot get or keep its node certificate when retrying cannot help: the agent
// stops and says so (exit 1 for `berth agent`).
import { BerthError } from '../../common/errors.js';

export class NodeIdentityError extends BerthError {}

/** The server's CA is not the one the join token names: it may be an impostor. */
export class CaMismatchError extends NodeIdentityError {
  constructor(readonly server: string, readonly expected: string, readonly got: string[]) {
    super(
      `refusing to join ${server}: the join token expects the cluster CA with SHA-256 ${expected}, but the server presented ` +
        `${got.length ? `a chain whose certificates have SHA-256 ${got.join(', ')}` : 'no certificate'}` +
        ' (wrong address, a token of another cluster, or someone impersonating the control plane); nothing was sent',
    );
  }
}
