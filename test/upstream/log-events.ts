import { createLogger, type Logger } from '../../core/log.js';

type Entry = Record<string, unknown> & { msg?: string };

/** A logger whose entries tests can await: `next('text')` resolves with the first later entry whose msg contains it. */
export class LogEvents {
  readonly entries: Entry[] = [];
  readonly logger: Logger;
  private readonly waiters = new Set<{ text: string; resolve: (entry: Entry) => void }>();

  constructor() {
    this.logger = createLogger({ name: 'test', level: 'debug', destination: { write: (line: string) => this.push(JSON.parse(line) as Entry) } });
  }

  next(text: string): Promise<Entry> {
    return new Promise((resolve) => this.waiters.add({ text, resolve }));
  }

  text(): string {
    return this.entries.map((e) => JSON.stringify(e)).join('\n');
  }

  private push(entry: Entry): void {
    this.entries.push(entry);
    for (const waiter of this.waiters) {
      if (entry.msg?.includes(waiter.text)) {
        this.waiters.delete(waiter);
        waiter.resolve(entry);
      }
    }
  }
}

/** Resolves at the next call of a listener registered with `subscribe`. */
export function nextCall<A extends unknown[]>(subscribe: (listener: (...args: A) => void) => () => void): Promise<A> {
  return new Promise((resolve) => {
    const unsubscribe = subscribe((...args) => {
      unsubscribe();
      resolve(args);
    });
  });
}
