import { get } from 'node:https';

/** Discovery documents and JWKS are a few KiB; refuse anything absurdly large. */
const MAX_BODY_BYTES = 1024 * 1024;

export type HttpsFetch = (url: string, init: { headers?: Headers | Record<string, string>; signal?: AbortSignal }) => Promise<Response>;

/**
 * A minimal GET-only fetch over node:https that trusts `caPem` (the cluster CA) when given, instead of the
 * system roots. It never follows redirects. Usable as jose's customFetch.
 */
export function httpsFetch(caPem?: string): HttpsFetch {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new TypeError(`refusing to fetch ${target.origin}: only https URLs are allowed`));
        return;
      }
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const req = get(target, { ca: caPem, headers, signal: init.signal, minVersion: 'TLSv1.2' }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new RangeError(`response from ${target.origin} exceeds 1 MiB`));
          else chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of [value ?? []].flat()) responseHeaders.append(name, v);
          }
          const status = res.statusCode ?? 502;
          const body = [204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: responseHeaders }));
        });
      });
      req.on('error', reject);
    });
}
