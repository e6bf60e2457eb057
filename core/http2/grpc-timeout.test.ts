import { describe, expect, it } from 'vitest';
import { parseGrpcTimeout } from './grpc-timeout.js';

describe('parseGrpcTimeout', () => {
  it.each([
    ['100m', 100],
    ['5S', 5000],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['250u', 0.25],
    ['7000000n', 7],
    ['0m', 0],
    ['99999999H', 99_999_999 * 3_600_000],
  ])('reads %s as %d ms', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBe(ms);
  });

  it.each(['', 'm', '5', '123456789m', '1.5S', '-1S', '+1S', ' 1S', '1 S', '10x', '10s', '1SS', '१S'])('rejects %j', (value) => {
    expect(parseGrpcTimeout(value)).toBeNaN();
  });
});
