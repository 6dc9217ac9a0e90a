/**
 * Any thrown value as one line for a user: the last words of a command that failed. JavaScript
 * throws anything (a string, undefined, a plain object, an Error whose message spans lines or a
 * native addon's object without `message`), and the catch-all that prints it must not itself
 * throw: a TypeError from `err.message.split` in the catch block once replaced the real error
 * (issue 31). So nothing here trusts the value: each read is guarded, and the line is capped.
 */

/** The longest line printed; a thrown object may serialise to megabytes. */
const MAX_CHARS = 500;

/** One line saying what `value` is: an Error's message (its first non-empty line), a string, or a description. */
export function describeError(value: unknown): string {
  let line: string;
  try {
    line = describe(value);
  } catch {
    line = 'a value that cannot be printed was thrown';
  }
  return line.length > MAX_CHARS ? `${line.slice(0, MAX_CHARS)}…` : line;
}

/** The first non-empty line of `text`, trimmed; '' when it has none. */
function firstLine(text: string): string {
  return text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? '';
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return `${value} was thrown (no message)`;
  if (typeof value === 'string') return firstLine(value) || 'an empty string was thrown';
  if (typeof value !== 'object' && typeof value !== 'function') return `${typeof value} ${String(value)} was thrown`;
  const obj = value as { message?: unknown; code?: unknown; name?: unknown };
  const message = typeof obj.message === 'string' ? firstLine(obj.message) : '';
  if (message) return message;
  // No usable message: say what it is, by name and, for errno-like objects, code.
  const name = typeof obj.name === 'string' && obj.name ? obj.name : (value.constructor?.name ?? 'object');
  const code = typeof obj.code === 'string' || typeof obj.code === 'number' ? ` ${obj.code}` : '';
  let json = '';
  if (!(value instanceof Error)) {
    try {
      json = JSON.stringify(value) ?? '';
    } catch {
      // Cyclic or holding a BigInt: the name is all there is to say.
    }
  }
  return `${name}${code} without a message${json && json !== '{}' ? `: ${json}` : ''}`;
}

/** The stack of `value` for GAN_DEBUG, or its description when it has none. */
export function stackOf(value: unknown): string {
  try {
    const stack = (value as { stack?: unknown } | undefined)?.stack;
    if (typeof stack === 'string' && stack) return stack;
  } catch {
    // A throwing getter: fall back to the one line.
  }
  return describeError(value);
}

/** The constructor name of `value`, or '' (never throws). */
export function errorClassName(value: unknown): string {
  try {
    const name = (value as { constructor?: { name?: unknown } } | undefined)?.constructor?.name;
    return typeof name === 'string' ? name : '';
  } catch {
    return '';
  }
}
