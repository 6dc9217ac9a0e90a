/**
 * describeError (src/shared/describe-error.ts): any thrown value becomes one line and describing
 * it never throws (the CLI's catch block once died on `undefined.split`, hiding the real error).
 */
import test from 'ava';
import { describeError, errorClassName, stackOf } from '../src/shared/describe-error.js';

/** One printable line: what the catch-all writes after "error: ". */
function assertOneLine(t: { true: (v: boolean, m?: string) => void }, line: string) {
  t.true(line.length > 0 && line.length <= 501 && !/[\r\n]/.test(line), JSON.stringify(line));
}

test('an Error: its message; a multi-line message: its first non-empty line', (t) => {
  t.is(describeError(new Error('disk full')), 'disk full');
  t.is(describeError(new Error('\n  first real line  \nsecond\nthird')), 'first real line');
  t.is(describeError(new TypeError('a\r\nb')), 'a');
});

test('an Error without a message says its name and errno code', (t) => {
  t.is(describeError(new Error()), 'Error without a message');
  t.is(describeError(Object.assign(new RangeError(''), { code: 'EMFILE' })), 'RangeError EMFILE without a message');
});

test('strings, undefined, null, numbers and symbols are described, not crashed on', (t) => {
  t.is(describeError('plain string\nmore'), 'plain string');
  t.is(describeError(''), 'an empty string was thrown');
  t.is(describeError(undefined), 'undefined was thrown (no message)');
  t.is(describeError(null), 'null was thrown (no message)');
  t.is(describeError(42), 'number 42 was thrown');
  t.is(describeError(Symbol('s')), 'symbol Symbol(s) was thrown');
  t.is(describeError(10n), 'bigint 10 was thrown');
});

test('objects without a message: their name, code and content, capped to one line', (t) => {
  t.is(describeError({ code: 'EMFILE', errno: -24 }), 'Object EMFILE without a message: {"code":"EMFILE","errno":-24}');
  t.is(describeError({}), 'Object without a message');
  t.is(describeError({ message: 7 }), 'Object without a message: {"message":7}');
  t.is(describeError(Object.create(null)), 'object without a message');
  const cyclic: Record<string, unknown> = { name: 'Loop' };
  cyclic.self = cyclic;
  t.is(describeError(cyclic), 'Loop without a message');
  const huge = describeError({ blob: 'x'.repeat(10_000) });
  assertOneLine(t, huge);
  t.true(huge.endsWith('…'));
  assertOneLine(t, describeError({ text: 'line\nbreak' })); // JSON escapes the break
});

test('values whose every read throws: one line, no exception', (t) => {
  const hostile = new Proxy({}, { get: () => { throw new Error('boom'); }, getPrototypeOf: () => { throw new Error('boom'); } });
  t.is(describeError(hostile), 'a value that cannot be printed was thrown');
  t.is(errorClassName(hostile), '');
  t.is(stackOf(hostile), 'a value that cannot be printed was thrown');
  const throwingMessage = Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('no'); } });
  assertOneLine(t, describeError(throwingMessage));
});

test('stackOf and errorClassName never throw either', (t) => {
  t.regex(stackOf(new Error('with stack')), /^Error: with stack\n\s+at /);
  t.is(stackOf(undefined), 'undefined was thrown (no message)');
  t.is(errorClassName(undefined), '');
  t.is(errorClassName(new TypeError('x')), 'TypeError');
  class RunDirError extends Error {}
  t.is(errorClassName(new RunDirError('x')), 'RunDirError');
});
