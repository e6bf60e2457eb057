// What tests read back from a real kube-apiserver (test/peers/kube-cluster.ts): its own count of TokenReviews,
// and state that only polling shows (RBAC changes taking effect, its token cache lapsing).
import { performance } from 'node:perf_hooks';
import type { KubeCluster } from '../peers/kube-cluster.js';

const TOKENREVIEW_POSTS = /^apiserver_request_total\{(?=[^}]*resource="tokenreviews")(?=[^}]*verb="POST")[^}]*\} (\d+)$/gm;

/**
 * Starts counting the TokenReviews the API server answers (every status code), read from its own /metrics;
 * the returned function gives the count since. The cluster is private to one test file, whose tests run one at
 * a time, so the count is exact.
 */
export async function tokenReviewCounter(cluster: KubeCluster): Promise<() => Promise<number>> {
  const read = async () => {
    const metrics = String(await cluster.call('GET', '/metrics'));
    return [...metrics.matchAll(TOKENREVIEW_POSTS)].reduce((sum, [, count]) => sum + Number(count), 0);
  };
  const before = await read();
  return async () => (await read()) - before;
}

/**
 * Polls `probe` until it holds, failing after `timeoutMs`. For API server state that offers no event to wait
 * for. Measures time with performance.now(), so it also works while a test fakes Date.
 */
export async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 12_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
