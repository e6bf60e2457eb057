/**
 * A request's header block, collected field by field as the HPACK decoder yields them and checked against
 * HTTP/2's rules for requests (RFC 9113 §8.2, §8.3). A request that breaks them is malformed: the stream is
 * reset with PROTOCOL_ERROR. Reasons name the rule, never a header value.
 */
import { parseGrpcTimeout } from './grpc-timeout.js';

const enum Pseudo {
  METHOD = 1,
  SCHEME = 2,
  PATH = 4,
  AUTHORITY = 8,
}

export class RequestHead {
  method = '';
  scheme = '';
  path = '';
  contentType = '';
  /** grpc-timeout in milliseconds: Infinity when absent, NaN when malformed. */
  timeoutMs = Infinity;
  /** content-length, or -1 when absent. */
  contentLength = -1;
  /**
   * Every other field, repeated names joined with ", ". Prototype-free, so a header named "__proto__" or
   * "constructor" is an ordinary entry and never reaches Object.prototype.
   */
  readonly metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  /** Why the request is malformed; '' while it is not. */
  malformed = '';
  private pseudo = 0;
  private sawRegular = false;

  add(name: string, value: string): void {
    if (this.malformed) return;
    const problem = fieldProblem(name, value);
    if (problem) {
      this.malformed = problem;
    } else if (name.charCodeAt(0) === 0x3a /* ':' */) {
      this.addPseudo(name, value);
    } else {
      this.sawRegular = true;
      this.addRegular(name, value);
    }
  }

  /** The header block is complete: checks the pseudo-headers every request needs (RFC 9113 §8.3.1). */
  complete(): void {
    if (this.malformed) return;
    if (!(this.pseudo & Pseudo.METHOD)) this.malformed = 'request without :method';
    else if (this.method === 'CONNECT') return; // needs neither :scheme nor :path; answered 405 like any non-POST
    else if (!(this.pseudo & Pseudo.SCHEME)) this.malformed = 'request without :scheme';
    else if (this.path === '') this.malformed = 'request without :path, or with an empty one';
  }

  private addPseudo(name: string, value: string): void {
    if (this.sawRegular) {
      this.malformed = 'pseudo-header after a regular header';
      return;
    }
    let bit: Pseudo;
    switch (name) {
      case ':method':
        bit = Pseudo.METHOD;
        this.method = value;
        break;
      case ':scheme':
        bit = Pseudo.SCHEME;
        this.scheme = value;
        break;
      case ':path':
        bit = Pseudo.PATH;
        this.path = value;
        break;
      case ':authority':
        bit = Pseudo.AUTHORITY;
        break;
      default:
        this.malformed = 'unknown or response pseudo-header in a request';
        return;
    }
    if (this.pseudo & bit) this.malformed = `duplicate ${name}`;
    this.pseudo |= bit;
  }

  private addRegular(name: string, value: string): void {
    switch (name) {
      case 'content-type':
        this.contentType = value;
        return; // transport, not metadata
      case 'grpc-timeout':
        this.timeoutMs = parseGrpcTimeout(value);
        break;
      case 'content-length': {
        const length = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
        if (Number.isNaN(length) || (this.contentLength >= 0 && length !== this.contentLength)) {
          this.malformed = 'invalid content-length';
          return;
        }
        this.contentLength = length;
        break;
      }
      case 'te':
        if (value !== 'trailers') this.malformed = 'te header other than "trailers"';
        break;
      case 'connection':
      case 'keep-alive':
      case 'proxy-connection':
      case 'transfer-encoding':
      case 'upgrade':
        this.malformed = `connection-specific header ${name}`;
        return;
    }
    const metadata = this.metadata;
    metadata[name] = name in metadata ? `${metadata[name]}, ${value}` : value;
  }
}

/** Checks one trailer field: the field rules, and no pseudo-headers. Returns why it is invalid, or ''. */
export function trailerProblem(name: string, value: string): string {
  return fieldProblem(name, value) || (name.charCodeAt(0) === 0x3a ? 'pseudo-header in trailers' : '');
}

/**
 * RFC 9113 §8.2.1: a name is lower-case visible ASCII without ':' (but for a pseudo-header's first octet),
 * a value has no NUL, CR or LF and no leading or trailing space or tab. Returns why a field breaks them, or ''.
 */
function fieldProblem(name: string, value: string): string {
  if (name.length === 0) return 'empty header name';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || (c === 0x3a && i > 0)) return 'header name with an upper-case letter or a character not allowed in names';
  }
  const last = value.length - 1;
  if (last < 0) return '';
  const first = value.charCodeAt(0);
  const end = value.charCodeAt(last);
  if (first === 0x20 || first === 0x09 || end === 0x20 || end === 0x09) return 'header value with leading or trailing whitespace';
  for (let i = 0; i <= last; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) return 'header value with NUL, CR or LF';
  }
  return '';
}
