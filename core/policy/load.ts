import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { AuthorizationPolicy } from './model.js';
import { PolicyValidationError, validatePolicy, type PolicyIssue } from './validate.js';

export interface ParsedPolicies {
  policies: AuthorizationPolicy[];
  issues: PolicyIssue[];
}

/**
 * Every AuthorizationPolicy in a multi-document YAML text. Empty documents are skipped; a `kind: List`
 * (kubectl get -o yaml) contributes its items. Issues name `origin`, the policy and the field.
 */
export function parsePolicyYaml(text: string, origin: string): ParsedPolicies {
  const result: ParsedPolicies = { policies: [], issues: [] };
  const documents = YAML.parseAllDocuments(text);
  documents.forEach((doc, index) => {
    const label = documents.length > 1 ? `document ${index + 1}` : undefined;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const at = err.linePos?.[0];
        result.issues.push({ origin, policy: label, path: at ? `line ${at.line}, column ${at.col}` : '', message: `invalid YAML: ${err.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '')}` });
      }
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const items = isList(value) ? value.items : [value];
    items.forEach((item, i) => {
      const itemLabel = isList(value) ? `${label ? `${label} ` : ''}items[${i}]` : label;
      const checked = validatePolicy(item, { origin, label: itemLabel });
      if ('policy' in checked) result.policies.push(checked.policy);
      else result.issues.push(...checked.issues);
    });
  });
  return result;
}

function isList(value: unknown): value is { items: unknown[] } {
  const v = value as { kind?: unknown; items?: unknown };
  return typeof v === 'object' && v !== null && v.kind === 'List' && Array.isArray(v.items);
}

const YAML_FILE = /\.ya?ml$/;

/** The YAML files a path names: itself, or the *.yaml / *.yml files directly inside a directory. */
export async function policyFilesOf(target: string): Promise<string[]> {
  const info = await stat(target);
  if (!info.isDirectory()) return [target];
  const names = (await readdir(target)).filter((n) => YAML_FILE.test(n)).sort();
  return names.map((n) => path.join(target, n));
}

/**
 * Reads and validates every policy under `targets` (files or directories). All issues across all files are
 * reported together; the file name in them is as given (relative paths stay relative).
 */
export async function loadPolicyFiles(targets: readonly string[]): Promise<AuthorizationPolicy[]> {
  const policies: AuthorizationPolicy[] = [];
  const issues: PolicyIssue[] = [];
  for (const target of targets) {
    let files: string[];
    try {
      files = await policyFilesOf(target);
    } catch (err) {
      issues.push({ origin: target, path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        issues.push({ origin: file, path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        continue;
      }
      const parsed = parsePolicyYaml(text, file);
      policies.push(...parsed.policies);
      issues.push(...parsed.issues);
    }
  }
  if (issues.length > 0) throw new PolicyValidationError(issues);
  return policies;
}
