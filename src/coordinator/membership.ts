/**
 * Who is in the run: admission of workers (token, protocol, code version, config fingerprint,
 * backend, rank), and their liveness. The coordinator's only view of a worker is its ZeroMQ
 * routing identity plus what its hello said.
 */
import { describeDifferences } from '../shared/protocol/fingerprint.js';
import { PROTOCOL_VERSION, type Hello } from '../shared/protocol/messages.js';

/** One admitted worker. */
export interface Member {
  rank: number;
  identity: Buffer;
  hello: Hello;
  /** Date.now() of the last message from it. */
  lastSeen: number;
}

/** What the run requires of every worker. */
export interface AdmissionRules {
  world: number;
  version: string;
  configHash: string;
  config: Record<string, unknown>;
}

export class Membership {
  private readonly byRank = new Map<number, Member>();
  private readonly byIdentity = new Map<string, Member>();
  /** The backend of the first worker; all must match, or replicas would not stay bit-identical. */
  private backend: string | undefined;

  constructor(private readonly rules: AdmissionRules) {}

  get size(): number {
    return this.byRank.size;
  }

  get full(): boolean {
    return this.byRank.size === this.rules.world;
  }

  members(): Member[] {
    return [...this.byRank.values()].sort((a, b) => a.rank - b.rank);
  }

  byId(identity: Buffer): Member | undefined {
    return this.byIdentity.get(identity.toString('hex'));
  }

  /** Admits the worker (returning its member) or returns the reason it is refused. */
  admit(identity: Buffer, hello: Hello): Member | string {
    if (this.byId(identity)) return 'this connection has already said hello';
    if (hello.protocol !== PROTOCOL_VERSION) return `protocol version ${hello.protocol}, the coordinator speaks ${PROTOCOL_VERSION}`;
    if (hello.version !== this.rules.version) return `code version ${hello.version}, the coordinator runs ${this.rules.version}`;
    if (hello.configHash !== this.rules.configHash) {
      const diffs = describeDifferences(this.rules.config, hello.config);
      return `training config differs: ${diffs.length ? diffs.join('; ') : 'fingerprint mismatch'}`;
    }
    if (this.backend !== undefined && hello.backend !== this.backend) return `backend ${hello.backend}, but the other workers run ${this.backend}`;
    if (this.full) return `the run already has all ${this.rules.world} workers`;
    let rank = hello.rank;
    if (rank >= this.rules.world) return `rank ${rank} requested, but the world size is ${this.rules.world}`;
    if (rank >= 0 && this.byRank.has(rank)) return `rank ${rank} is taken`;
    if (rank < 0) {
      rank = 0;
      while (this.byRank.has(rank)) rank++;
    }
    this.backend ??= hello.backend;
    const m: Member = { rank, identity, hello, lastSeen: Date.now() };
    this.byRank.set(rank, m);
    this.byIdentity.set(identity.toString('hex'), m);
    return m;
  }

  /** Members silent for longer than `timeoutMs`. */
  silent(timeoutMs: number, now = Date.now()): Member[] {
    return this.members().filter((m) => now - m.lastSeen > timeoutMs);
  }
}

/**
 * Groups ranks by the weight hash they reported; undefined when all agree, else e.g.
 * "ranks 0,2 3fa9c1d2e4b5 vs rank 1 77aa01be3c9d".
 */
export function describeHashMismatch(hashes: Map<number, string>): string | undefined {
  const groups = new Map<string, number[]>();
  for (const [rank, h] of hashes) groups.set(h, [...(groups.get(h) ?? []), rank]);
  if (groups.size <= 1) return undefined;
  return [...groups.entries()].map(([h, ranks]) => `rank${ranks.length > 1 ? 's' : ''} ${ranks.sort((a, b) => a - b).join(',')} ${h.slice(0, 12)}`).join(' vs ');
}
