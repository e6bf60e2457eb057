import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { writePrivateKeyFile } from '../core/x509/key-file.js';
import { generateKeyPair } from '../core/x509/keys.js';
import { dersToPem } from '../core/x509/pem.js';
import type { ProtoGrpcType } from '../protos/gen/agent.js';
import { loadProto } from '../protos/load.js';
import { allowOptions, option, requiredOption, type Args } from './args.js';
import { call } from './grpc-client.js';

/**
 * `meshid svid request`: attest with a join token and write svid.pem (chain), key.pem (0600) and
 * bundle.pem. The key is generated here and never sent anywhere.
 */
export async function runSvidRequest(args: Args): Promise<void> {
  allowOptions(args, ['join-token', 'server', 'bundle', 'out', 'help']);
  const joinToken = requiredOption(args, 'join-token');
  const server = option(args, 'server') ?? '127.0.0.1:15012';
  const bundleFile = option(args, 'bundle') ?? './.meshid/ca/bundle.pem';
  const out = option(args, 'out') ?? './.meshid/svid';

  const roots = await readFile(bundleFile).catch(() => {
    throw new Error(`cannot read the trust bundle ${bundleFile} (pass --bundle; the CA writes it to <dataDir>/bundle.pem)`);
  });
  const proto = loadProto<ProtoGrpcType>('meshid/v1/agent.proto');
  const client = new proto.meshid.v1.NodeAgentService(server, grpc.credentials.createSsl(roots), {
    // The CA's certificate names "localhost"; an IP target still verifies against that name.
    'grpc.ssl_target_name_override': 'localhost',
  });
  try {
    const keys = generateKeyPair();
    const res = await call(client, client.AttestAgent, { join_token: joinToken, csr: createCsrPem(keys) });
    await mkdir(out, { recursive: true, mode: 0o700 });
    await writePrivateKeyFile(path.join(out, 'key.pem'), keys.privateKey);
    await writeFile(path.join(out, 'svid.pem'), dersToPem(res.svid!.cert_chain));
    await writeFile(path.join(out, 'bundle.pem'), dersToPem(res.bundle!.x509_authorities));
    console.log(`${res.svid!.spiffe_id}\n  valid until ${new Date(res.svid!.expires_at * 1000).toISOString()}\n  written to ${out}/{svid,key,bundle}.pem`);
  } finally {
    client.close();
  }
}
