// Servers leaving the cluster of embedded etcds: whether removing a server's etcd member is safe,
// and the removal of a dead server's (`berth server rm`). A server leaving (`berth server leave`)
// removes its own member as it stops (server.ts), after this check.
//
// Safe means: a member remains, and the members that remain and run (a server registered under
// their name) are a majority of those that remain, so etcd keeps its quorum.
import { ConflictError, NotFoundError } from '../../common/errors.js';
import { serverKeys } from '../store/keys.js';
import type { EtcdMember, Store } from '../store/store.js';

/** A removal refused: the message says why (answered 409). */
export class MembershipConflict extends ConflictError {
  constructor(message: string) {
    super('servers', message);
  }
}

/** Throws MembershipConflict unless removing `member` leaves a working etcd. */
export async function checkRemovable(store: Store, members: EtcdMember[], member: EtcdMember, what: string): Promise<void> {
  const remaining = members.filter((m) => m.id !== member.id && !m.learner);
  if (!remaining.length) throw new MembershipConflict(`${what}: it is the cluster's only etcd member (the only server); stop it instead`);
  const running = new Set((await store.list<{ name: string }>(serverKeys.servers)).items.map((s) => s.name));
  const up = remaining.filter((m) => running.has(m.name)).length;
  const quorum = Math.floor(remaining.length / 2) + 1;
  if (up < quorum) {
    throw new MembershipConflict(`${what}: of the ${remaining.length} etcd members that would remain, ${up} run a server; etcd needs ${quorum}. Start the stopped servers, or remove the dead ones first`);
  }
}

/** Removes the etcd member of the stopped server `name` and its registration. */
export async function removeServer(store: Store, name: string): Promise<{ name: string; memberId: string }> {
  if (await store.get(serverKeys.server(name))) {
    throw new MembershipConflict(`server "${name}" is running: run "berth server leave" against it, or stop it first`);
  }
  const members = await store.members();
  const member = members.find((m) => m.name === name);
  if (!member) throw new NotFoundError('server', name);
  await checkRemovable(store, members, member, `cannot remove server "${name}"`);
  await store.removeMember(member.id);
  await store.delete(serverKeys.server(name)).catch(() => undefined);
  return { name, memberId: member.id };
}

/** Throws unless the server `name` (this one) may leave now. */
export async function checkLeave(store: Store, name: string): Promise<void> {
  const members = await store.members();
  const id = await store.localMemberId();
  const member = members.find((m) => m.id === id);
  if (!member) throw new MembershipConflict(`server "${name}" has no etcd member of its own (an external etcd?): stop it instead`);
  await checkRemovable(store, members, member, `server "${name}" cannot leave`);
}
