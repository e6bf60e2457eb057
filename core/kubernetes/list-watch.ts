/**
 * List + watch of one collection, the loop behind every controller: a list, then a watch from the list's
 * resourceVersion, re-watched from the last version seen when the stream ends, re-listed when the server
 * says that version is gone (410), and retried with backoff while the API server is unreachable or refuses.
 *
 * client-node's ListWatch (makeInformer) is not used: it stops for good at the first error, reports errors
 * after stop(), and a stop() while its watch is connecting leaves that watch open.
 */
import { Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from '../backoff.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The collection's path: /api/v1/namespaces, /api/v1/configmaps, /api/v1/namespaces/NS/configmaps. */
  path: string;
  /** Narrows the list and the watch alike, e.g. `metadata.name=istio-ca-root-cert`. */
  fieldSelector?: string;
  /** The same collection through the typed client (e.g. `(q) => api.listNamespace(q)`). */
  list(query: { fieldSelector?: string }): Promise<KubernetesListObject<T>>;
  /** After each (re)list: every object there is now. */
  onList(items: T[]): void;
  onEvent(type: WatchEventType, object: T): void;
  /** A list or watch failed; the next attempt comes in `retryInMs`. */
  onError(err: unknown, retryInMs: number): void;
  /** Default 1 s doubling to 30 s, jittered (`jitter: false` for exact delays). */
  backoff?: BackoffOptions & { jitter?: boolean };
}

export interface ListWatch {
  /** Ends the watch; no callback is called afterwards. */
  close(): void;
}

/**
 * The server ends a watch after this long, and it is re-watched from where it was: client-node sets no
 * timeout of its own, so a connection that silently died would otherwise hang until TCP gives up.
 */
const WATCH_TIMEOUT_SECONDS = 300;
/** A watch closed normally sooner than this without an event counts as a failure, so such a server is not hammered. */
const MIN_QUIET_WATCH_MS = 1000;

class ResourceVersionGone extends Error {}

export function listWatch<T extends KubernetesObject>(options: ListWatchOptions<T>): ListWatch {
  const { kubeConfig, path, fieldSelector } = options;
  const watch = new Watch(kubeConfig);
  const backoff = new Backoff(options.backoff ?? { initialMs: 1000, maxMs: 30_000 });
  const selector = fieldSelector === undefined ? {} : { fieldSelector };
  let resourceVersion = '';
  let closed = false;
  let current: AbortController | undefined;
  let retryTimer: NodeJS.Timeout | undefined;

  const retry = (err: unknown) => {
    if (closed) return;
    const delay = backoff.next();
    options.onError(err, delay);
    retryTimer = setTimeout(() => void (resourceVersion ? startWatch() : list()).catch(retry), delay);
  };

  const list = async () => {
    const answer = await options.list(selector);
    if (closed) return;
    resourceVersion = answer.metadata?.resourceVersion ?? '';
    backoff.reset();
    options.onList(answer.items);
    await startWatch();
  };

  const startWatch = async () => {
    if (closed) return;
    const startedAt = Date.now();
    let events = 0;
    let finished = false;
    // The Watch calls done once, but an ERROR event ends the stream first: act on whichever comes first.
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      current?.abort(); // this stream's, or (failing while connecting) the previous one's, which has ended
      if (closed) return;
      if (err instanceof ResourceVersionGone || (err as { statusCode?: number } | null)?.statusCode === 410) {
        resourceVersion = '';
        void list().catch(retry);
      } else if (err) {
        retry(err);
      } else if (events === 0 && Date.now() - startedAt < MIN_QUIET_WATCH_MS) {
        retry(new Error('the API server closed the watch at once'));
      } else {
        void startWatch().catch(retry);
      }
    };
    const controller = await watch.watch(
      path,
      { ...selector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS },
      (type: string, object: T & { code?: number; message?: string }) => {
        if (finished || closed) return;
        if (type === 'ERROR') {
          // A Status object in place of a resource: 410 Gone means our resourceVersion is too old to resume from.
          finish(object.code === 410 ? new ResourceVersionGone(object.message) : new Error(`watch error ${object.code}: ${object.message}`));
          return;
        }
        if (object.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        events++;
        options.onEvent(type as WatchEventType, object);
      },
      finish,
    );
    current = controller;
    // Still running once connected means the server answered 200 (any other answer has called done by now).
    if (finished || closed) controller.abort();
    else backoff.reset();
  };

  void list().catch(retry);

  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      current?.abort();
    },
  };
}
