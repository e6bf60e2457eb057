/**
 * A forgiving walk over valid seed DER, independent of core/x509/der.ts: where the tag and length bytes
 * are (mutation landmarks) and the top-level children of a SEQUENCE (to re-sign a mutated request body).
 * Only ever run on well-formed seeds.
 */

export interface Node {
  start: number;
  contentStart: number;
  end: number;
}

function readNode(der: Uint8Array, at: number): Node {
  let length = der[at + 1]!;
  let contentStart = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[contentStart++]!;
  }
  return { start: at, contentStart, end: contentStart + length };
}

/** The TLVs directly inside `[from, to)`. */
export function children(der: Uint8Array, from = 0, to = der.length): Node[] {
  const out: Node[] = [];
  for (let at = from; at < to; ) {
    const node = readNode(der, at);
    out.push(node);
    at = node.end;
  }
  return out;
}

/** The TLVs inside a constructed `node`. */
export const inside = (der: Uint8Array, node: Node) => children(der, node.contentStart, node.end);

/**
 * Offsets of every tag byte and length byte, descending into constructed values and into OCTET / BIT
 * STRINGs whose contents are DER themselves (extension values, RSA keys).
 */
export function derLandmarks(der: Uint8Array, from = 0, to = der.length, out: number[] = []): number[] {
  for (const node of children(der, from, to)) {
    for (let i = node.start; i < node.contentStart; i++) out.push(i);
    const tag = der[node.start]!;
    if (tag & 0x20) derLandmarks(der, node.contentStart, node.end, out);
    else if (tag === 0x04 && holdsDer(der, node.contentStart, node.end)) derLandmarks(der, node.contentStart, node.end, out);
    else if (tag === 0x03 && holdsDer(der, node.contentStart + 1, node.end)) derLandmarks(der, node.contentStart + 1, node.end, out);
  }
  return out;
}

function holdsDer(der: Uint8Array, from: number, to: number): boolean {
  if (to - from < 2 || der[from] !== 0x30) return false;
  try {
    const nodes = children(der, from, to);
    return nodes.at(-1)!.end === to;
  } catch {
    return false;
  }
}
