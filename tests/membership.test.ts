/** Admission rules and the replica-hash comparison of the coordinator. */
import test from 'ava';
import { describeHashMismatch, Membership } from '../src/coordinator/membership.js';
import { PROTOCOL_VERSION, type Hello } from '../src/shared/protocol/messages.js';

const config = { model: 'mlp', lr: 0.0002, seed: 1 };
const rules = { world: 2, version: '1.0.0', configHash: 'h', config };
const hello = (over: Partial<Hello> = {}): Hello => ({
  t: 'hello', protocol: PROTOCOL_VERSION, rank: -1, device: 'cpu', backend: 'wasm', version: '1.0.0', configHash: 'h', config,
  dataEndpoint: 'tcp://127.0.0.1:1', host: 'h', pid: 1, ...over,
});
const id = (n: number) => Buffer.from([n]);

test('ranks are dealt in order, a requested rank is honoured, and the run fills up', (t) => {
  const m = new Membership(rules);
  const a = m.admit(id(1), hello({ rank: 1 }));
  const b = m.admit(id(2), hello());
  t.like(a, { rank: 1 });
  t.like(b, { rank: 0 });
  t.true(m.full);
  t.is(m.admit(id(3), hello()), 'the run already has all 2 workers');
});

test('mismatches are refused with a reason naming what differs', (t) => {
  const m = new Membership(rules);
  t.is(m.admit(id(1), hello({ configHash: 'x', config: { ...config, lr: 0.001 } })), 'training config differs: lr: coordinator 0.0002 ≠ worker 0.001');
  t.is(m.admit(id(2), hello({ version: '0.9.0' })), 'code version 0.9.0, the coordinator runs 1.0.0');
  t.is(m.admit(id(3), hello({ protocol: 99 })), `protocol version 99, the coordinator speaks ${PROTOCOL_VERSION}`);
  t.is(m.admit(id(4), hello({ rank: 5 })), 'rank 5 requested, but the world size is 2');
  m.admit(id(5), hello({ rank: 0 }));
  t.is(m.admit(id(6), hello({ rank: 0 })), 'rank 0 is taken');
  t.is(m.admit(id(7), hello({ backend: 'cpu' })), 'backend cpu, but the other workers run wasm');
  t.is(m.admit(id(5), hello()), 'this connection has already said hello');
});

test('replica hashes: agreement passes, a mismatch names the ranks on each side', (t) => {
  t.is(describeHashMismatch(new Map([[0, 'aa'], [1, 'aa'], [2, 'aa']])), undefined);
  t.is(describeHashMismatch(new Map([[0, 'aaaa'], [1, 'bbbb'], [2, 'aaaa']])), 'ranks 0,2 aaaa vs rank 1 bbbb');
});

test('silent members are found by the time since their last message', (t) => {
  const m = new Membership(rules);
  const a = m.admit(id(1), hello());
  if (typeof a === 'string') return t.fail(a);
  a.lastSeen = 1000;
  t.deepEqual(m.silent(5000, 7000).map((x) => x.rank), [0]);
  t.deepEqual(m.silent(5000, 5500), []);
});
