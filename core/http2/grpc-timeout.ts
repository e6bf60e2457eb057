/**
 * The grpc-timeout request header (gRPC over HTTP/2: "TimeoutValue TimeoutUnit", a positive integer of at
 * most 8 ASCII digits, then H, M, S, m, u or n) in milliseconds; NaN when malformed.
 */
export function parseGrpcTimeout(value: string): number {
  const digits = value.length - 1;
  if (digits < 1 || digits > 8) return NaN;
  let amount = 0;
  for (let i = 0; i < digits; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return NaN;
    amount = amount * 10 + digit;
  }
  switch (value.charCodeAt(digits)) {
    case 0x48: // H
      return amount * 3_600_000;
    case 0x4d: // M
      return amount * 60_000;
    case 0x53: // S
      return amount * 1000;
    case 0x6d: // m
      return amount;
    case 0x75: // u
      return amount / 1000;
    case 0x6e: // n
      return amount / 1_000_000;
    default:
      return NaN;
  }
}
