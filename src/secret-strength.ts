/**
 * Is a configured secret random-looking? A production secret that a person typed, padded or
 * left at an example value is refused at start. The rules are meant to refuse obviously made-up
 * values while never refusing a value generated as the README says (`openssl rand`): each rule
 * is chosen so that a random value trips it with a probability below 1e-15 (bytes) or well below
 * 1e-6 (strings; hex is the smallest alphabet we expect).
 *
 * - a repeated block: over at least half of the value, a shorter block repeats back to back
 *   (`aaaa…`, `sk_live_abcabc…`, `password` four times, 16 zero bytes);
 * - a progression: more than half of the steps between neighbours equal the step before
 *   (`0,1,2,3…`, `abcdef…`, `2,4,6…`);
 * - too little variety: the value's own character distribution carries fewer than `minBits`
 *   bits (length × empirical Shannon entropy; `sk_live_` + 24 × `a` carries 48). In 200,000
 *   random 32-character hex strings the smallest figure was 85 bits, for random 32-byte keys 138.
 * - keys (bytes) also need at least 16 distinct byte values (random keys have about 30; fewer
 *   than 16 has probability 3e-17) and must not be all printable ASCII, which is what a password
 *   run through base64 looks like (random bytes: probability 2e-14).
 */

const MIN_STRING_BITS = 64;
const MIN_KEY_BITS = 120;
const MIN_KEY_DISTINCT_BYTES = 16;

/** The shortest block that repeats back to back over at least half of the value (`aaaa…`, `sk_live_abcabcabc…`). */
function repeatedBlock(values: ArrayLike<number>): number | undefined {
  const n = values.length;
  const needed = Math.ceil(n / 2);
  for (let period = 1; period <= n / 2; period++) {
    let run = 0;
    for (let i = period; i < n; i++) {
      run = values[i] === values[i - period] ? run + 1 : 0;
      if (run >= needed) return period;
    }
  }
  return undefined;
}

function isProgression(values: ArrayLike<number>): boolean {
  let sameStep = 0;
  for (let i = 2; i < values.length; i++)
    if ((values[i] as number) - (values[i - 1] as number) === (values[i - 1] as number) - (values[i - 2] as number)) sameStep++;
  return sameStep > (values.length - 2) / 2;
}

function entropyBits(values: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < values.length; i++) counts.set(values[i] as number, (counts.get(values[i] as number) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) bits -= count * Math.log2(count / values.length);
  return bits;
}

function commonWeakness(values: ArrayLike<number>, unit: string, minBits: number): string | undefined {
  const period = repeatedBlock(values);
  if (period !== undefined) return `repeats a ${period}-${unit} block over half of its length`;
  if (isProgression(values)) return "is mostly a progression (like 0123…, abcd…, 2468…)";
  const bits = Math.floor(entropyBits(values));
  if (bits < minBits) return `has too little variety (about ${bits} bits; at least ${minBits} needed)`;
  return undefined;
}

/** Why a secret string (an API key, a token) does not look random, or undefined when it does. */
export function weaknessOfSecret(secret: string): string | undefined {
  return commonWeakness(Array.from(secret, (c) => c.codePointAt(0) as number), "character", MIN_STRING_BITS);
}

/** Why key bytes (an encryption key) do not look random, or undefined when they do. */
export function weaknessOfKey(key: Uint8Array): string | undefined {
  const common = commonWeakness(key, "byte", MIN_KEY_BITS);
  if (common) return common;
  const distinct = new Set(key).size;
  if (distinct < MIN_KEY_DISTINCT_BYTES) return `has only ${distinct} distinct byte values (at least ${MIN_KEY_DISTINCT_BYTES} needed)`;
  if (key.every((b) => b >= 0x20 && b <= 0x7e)) return "is printable text, not random bytes (a password in base64?)";
  return undefined;
}
