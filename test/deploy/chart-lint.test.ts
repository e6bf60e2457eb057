import { describe, expect, it } from 'vitest';
import { ALL_VALUES, CHART_DIR, helmTemplate, helmWithValues, RELEASE } from './chart.js';

// Each helm run is a process start (about 0.2 s); the suites below make a few dozen.
describe('helm lint --strict and helm template', { timeout: 60_000 }, () => {
  it.each(Object.entries(ALL_VALUES))('%s: lint passes with no warning', async (_name, values) => {
    const res = await helmWithValues(['lint', '--strict', CHART_DIR, '--namespace', RELEASE.namespace], values);
    expect(res.stderr + res.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(res.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(res.code).toBe(0);
  });

  it.each(Object.entries(ALL_VALUES))('%s: renders', async (_name, values) => {
    expect(await helmTemplate(values)).toContain('kind: StatefulSet');
  });
});

/** helm's answer to values that values.schema.json must refuse: the message names the offending field. */
async function refusal(values: object): Promise<string> {
  const res = await helmWithValues(['template', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace], values);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain("values don't meet the specifications of the schema");
  return res.stderr;
}

describe('values.schema.json refuses bad values, naming the field', { timeout: 60_000 }, () => {
  it('an upstream type meshid does not have', async () => {
    expect(await refusal({ upstream: { type: 'acme' } })).toMatch(/at '\/upstream\/type': value must be one of 'self-signed', 'files', 'vault', 'cert-manager'/);
  });

  it('the vault upstream without an address', async () => {
    const message = await refusal({ upstream: { type: 'vault', vault: { auth: { method: 'token', token: { secretName: 'vault-token' } } } } });
    expect(message).toMatch(/at '\/upstream\/vault\/address': minLength/);
  });

  it('the vault upstream with Kubernetes auth but no role', async () => {
    expect(await refusal({ upstream: { type: 'vault', vault: { address: 'https://vault:8200' } } })).toMatch(/at '\/upstream\/vault\/auth\/kubernetes\/role'/);
  });

  it('the files upstream without its Secret', async () => {
    expect(await refusal({ upstream: { type: 'files' } })).toMatch(/at '\/upstream\/files\/secretName'/);
  });

  it('the cert-manager upstream without an issuer', async () => {
    expect(await refusal({ upstream: { type: 'cert-manager' } })).toMatch(/at '\/upstream\/certManager\/issuerName'/);
  });

  it('two CA replicas (the SQLite datastore is single-writer)', async () => {
    expect(await refusal({ ca: { replicas: 2 } })).toMatch(/at '\/ca\/replicas': value must be 1/);
  });

  it('an unknown top-level key', async () => {
    expect(await refusal({ replicaCount: 3 })).toMatch(/at '': additional properties 'replicaCount' not allowed/);
  });

  it('an unknown key one level down', async () => {
    expect(await refusal({ agent: { hostNetwork: true } })).toMatch(/at '\/agent': additional properties 'hostNetwork' not allowed/);
  });

  it('a kubernetes.mode meshid does not have', async () => {
    expect(await refusal({ kubernetes: { mode: 'oidc' } })).toMatch(/at '\/kubernetes\/mode': value must be one of 'tokenreview', 'jwt'/);
  });

  it('jwt mode without an issuer or a key source', async () => {
    const message = await refusal({ kubernetes: { mode: 'jwt' } });
    expect(message).toMatch(/at '\/kubernetes\/jwt\/issuer'/);
    expect(message).toMatch(/at '\/kubernetes\/jwt': 'oneOf' failed/);
  });

  it('jwt mode with both OIDC discovery and a JWKS ConfigMap', async () => {
    const jwt = { issuer: 'https://kubernetes.default.svc', oidcDiscoveryUrl: 'https://kubernetes.default.svc', jwksConfigMap: { name: 'jwks' } };
    expect(await refusal({ kubernetes: { mode: 'jwt', jwt } })).toMatch(/at '\/kubernetes\/jwt': 'oneOf' failed/);
  });

  it('a token lifetime below the API server minimum', async () => {
    expect(await refusal({ agent: { token: { audience: 'meshid', expirationSeconds: 60 } } })).toMatch(/at '\/agent\/token\/expirationSeconds': minimum/);
  });

  it('a duration meshid cannot read', async () => {
    expect(await refusal({ ca: { svid: { maxTtl: 'one day' } } })).toMatch(/at '\/ca\/svid\/maxTtl'/);
  });
});
