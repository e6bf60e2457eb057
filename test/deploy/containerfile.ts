// A reader for the repository's Containerfile, enough to lint it and to lay out its runtime stage on disk.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './chart.js';

export const CONTAINERFILE = path.join(REPO_ROOT, 'Containerfile');

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Copy {
  /** --from=<stage>, or undefined for the build context. */
  from: string | undefined;
  sources: string[];
  /** Absolute path in the image. */
  dest: string;
}

/** The stages in order; backslash continuations joined, comments dropped. */
export function parseContainerfile(text = readFileSync(CONTAINERFILE, 'utf8')): Stage[] {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
      return { keyword: keyword!.toUpperCase(), args: args!.replace(/\s+/g, ' ') };
    });
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(' ');
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${instruction.keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

export const instructionsOf = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

/** The exec form of ENTRYPOINT/CMD (a JSON array), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The stage's COPY instructions, each destination resolved against the WORKDIR in force there. */
export function copiesOf(stage: Stage): Copy[] {
  let workdir = '/';
  const copies: Copy[] = [];
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, args);
    if (keyword !== 'COPY') continue;
    const words = args.split(' ');
    const paths = words.filter((w) => !w.startsWith('--'));
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    copies.push({ from, sources: paths.slice(0, -1), dest: path.posix.resolve(workdir, paths.at(-1)!) });
  }
  return copies;
}
