import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contents, decodeOid, DerError, DerReader, encodeOid, encodeTime, encodeTlv, encodeUnsignedInteger, TAG } from './der.js';
import { x509 } from './peculiar.js';

const hex = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex');

describe('DerReader strictness', () => {
  const rejects: [string, string][] = [
    ['indefinite length', '30 80 00 00'],
    ['non-minimal long form', '04 81 01 aa'],
    ['leading zero length octet', '04 82 00 81' + 'aa'.repeat(0x81)],
    ['truncated content', '04 05 aa bb'],
    ['truncated header', '04'],
    ['multi-byte tag', '1f 81 01 00'],
  ];
  for (const [name, bytes] of rejects) {
    it(`rejects ${name}`, () => expect(() => new DerReader(hex(bytes)).next()).toThrow(DerError));
  }

  it('reads long-form lengths and nested TLVs', () => {
    const content = Buffer.alloc(300, 7);
    const der = encodeTlv(TAG.SEQUENCE, encodeTlv(TAG.OCTET_STRING, content), encodeTlv(TAG.NULL));
    const outer = new DerReader(der);
    const seq = DerReader.within(der, outer.next(TAG.SEQUENCE));
    outer.expectDone();
    expect(Buffer.from(contents(der, seq.next(TAG.OCTET_STRING))).equals(content)).toBe(true);
    expect(seq.optional(TAG.BOOLEAN)).toBeUndefined();
    seq.next(TAG.NULL);
    expect(seq.done).toBe(true);
  });

  it('rejects an unexpected tag and trailing data', () => {
    expect(() => new DerReader(hex('0500')).next(TAG.SEQUENCE)).toThrow(/expected tag 0x30/);
    const r = new DerReader(hex('0500 0500'));
    r.next();
    expect(() => r.expectDone()).toThrow(/trailing/);
  });
});

describe('encoders', () => {
  it('OIDs round-trip and match @peculiar/asn1', () => {
    const oid = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 8 }));
    fc.assert(
      fc.property(oid, ([a, b, rest]) => {
        const dotted = [a, b, ...rest].join('.');
        const der = encodeOid(dotted);
        expect(decodeOid(contents(der, new DerReader(der).next(TAG.OID)))).toBe(dotted);
      }),
    );
    const eku = new Uint8Array(new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1']).value);
    expect(Buffer.from(eku).includes(encodeOid('1.3.6.1.5.5.7.3.1'))).toBe(true);
    expect(decodeOid(hex('8837'))).toBe('2.999');
  });

  it('unsigned integers are minimal and positive', () => {
    expect(encodeUnsignedInteger(hex('00007f')).toString('hex')).toBe('02017f');
    expect(encodeUnsignedInteger(hex('80')).toString('hex')).toBe('02020080');
    expect(encodeUnsignedInteger(hex('0000')).toString('hex')).toBe('020100');
  });

  it('times switch from UTCTime to GeneralizedTime in 2050 and drop milliseconds', () => {
    expect(encodeTime(new Date('2049-12-31T23:59:59.999Z')).toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(encodeTime(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
    expect(encodeTime(new Date('1950-01-01T00:00:00Z')).toString('latin1')).toBe('\x17\x0d500101000000Z');
    expect(encodeTime(new Date('1949-12-31T23:59:59Z')).toString('latin1')).toBe('\x18\x0f19491231235959Z');
  });
});
