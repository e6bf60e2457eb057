import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 runs on Node's built-in WebCrypto; set once here and import x509 from this module.
x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
