/**
 * Istio's string patterns, compiled once: `*` alone matches any value, `abc*` is a prefix, `*abc` a suffix
 * (a leading `*` wins, so `*a*` is the suffix "a*"), anything else is exact. Exact values go in a Set, so a
 * list of a thousand principals costs one lookup. Case-sensitive: callers fold case on both sides first.
 */
export type StringMatcher = (value: string) => boolean;

export function compileStringMatcher(patterns: readonly string[]): StringMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern === '*') return () => true;
    if (pattern.startsWith('*')) suffixes.push(pattern.slice(1));
    else if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  if (prefixes.length === 0 && suffixes.length === 0) {
    if (exact.size === 1) {
      const [only] = exact;
      return (value) => value === only;
    }
    return (value) => exact.has(value);
  }
  return (value) => {
    if (exact.has(value)) return true;
    for (const p of prefixes) if (value.startsWith(p)) return true;
    for (const s of suffixes) if (value.endsWith(s)) return true;
    return false;
  };
}
