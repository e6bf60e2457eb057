import { describe, expect, it } from 'vitest';
import { parseBearer } from './bearer.js';

describe('parseBearer', () => {
  it('answers the token of "Bearer <token>", any case of the scheme, whitespace around ignored', () => {
    for (const header of ['Bearer abc.def', 'bearer abc.def', 'BEARER   abc.def', ' Bearer abc.def \t', 'Bearer\tabc.def']) {
      expect(parseBearer(header), header).toBe('abc.def');
    }
  });

  it('answers undefined for anything else', () => {
    for (const header of ['', 'Bearer', 'Bearer ', 'Basic abc', 'Bearerabc', 'Bearer a b', 'Token abc', 'abc']) {
      expect(parseBearer(header), header).toBeUndefined();
    }
  });
});
