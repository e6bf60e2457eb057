import net from 'node:net';

/**
 * Binds `port` on loopback (0: any free port), closes it again and returns it: a port nobody listened on a
 * moment ago, for a server that must be told its port before it starts. Rejects when `port` is taken.
 */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}
