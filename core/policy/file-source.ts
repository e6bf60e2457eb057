import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadPolicyFiles } from './load.js';
import type { PolicyStore, PolicyUpdate } from './store.js';

export interface PolicyFileSourceOptions {
  /** YAML files and/or directories of *.yaml / *.yml files. */
  paths: readonly string[];
  store: PolicyStore;
  log: Logger;
  /** Quiet time after the last change before reloading (editors write in bursts). Default 100 ms. */
  debounceMs?: number;
  /** Told about every reload attempt: the update, or the error that kept the last good set. */
  onReload?: (result: { update: PolicyUpdate } | { error: Error }) => void;
}

export interface PolicyFileSource {
  /** Resolves after the first load attempt (rejects if it failed: nothing is enforced but deny-all). */
  readonly initial: Promise<PolicyUpdate>;
  /** Loads now, as a change would; resolves with the outcome. */
  reload(): Promise<{ update: PolicyUpdate } | { error: Error }>;
  close(): void;
}

/**
 * Loads policy files into the store and reloads them on change. Watches the directories (not the files),
 * so editors and tools that replace a file by renaming a new one over it are seen too. Reloads never
 * overlap; a failed reload is logged and the store keeps its last good set.
 */
export function watchPolicyFiles(options: PolicyFileSourceOptions): PolicyFileSource {
  const { store, log, debounceMs = 100 } = options;
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let closed = false;

  const load = async (): Promise<{ update: PolicyUpdate } | { error: Error }> => {
    try {
      const policies = await loadPolicyFiles(options.paths);
      const update = store.replace(policies, 'files');
      log.info({ version: update.version, policies: update.policies }, 'authorization policies loaded');
      return { update };
    } catch (err) {
      log.error({ err: (err as Error).message }, 'authorization policies not reloaded; keeping the last good set');
      return { error: err as Error };
    }
  };

  const reload = () => {
    const next = running.then(load);
    running = next;
    return next.then((result) => {
      options.onReload?.(result);
      return result;
    });
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
  };

  const watchTargets = async () => {
    // directory -> what matters in it: every YAML file (the target was the directory) and/or named files
    const interest = new Map<string, { anyYaml: boolean; names: Set<string> }>();
    const entry = (dir: string) => interest.get(dir) ?? interest.set(dir, { anyYaml: false, names: new Set() }).get(dir)!;
    for (const target of options.paths) {
      if (await stat(target).then((s) => s.isDirectory(), () => false)) entry(target).anyYaml = true;
      else entry(path.dirname(target)).names.add(path.basename(target));
    }
    for (const [dir, { anyYaml, names }] of interest) {
      if (closed) return;
      try {
        const watcher = watch(dir, (_event, name) => {
          const file = name?.toString();
          if (!file || names.has(file) || (anyYaml && /\.ya?ml$/.test(file))) schedule();
        });
        watcher.on('error', (err) => log.warn({ err: err.message, dir }, 'policy directory watch failed'));
        watchers.push(watcher);
      } catch (err) {
        // Reported by the load as well ("cannot read"); changes there are not seen until a restart.
        log.error({ err: (err as Error).message, dir }, 'cannot watch policy directory');
      }
    }
  };

  const initial = watchTargets().then(reload).then((result) => {
    if ('error' in result) throw result.error;
    return result.update;
  });
  initial.catch(() => undefined); // the caller decides; an unobserved rejection must not crash the agent

  return {
    initial,
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
