import { createConnection, createServer, type Server, type Socket } from "node:net";
import { once } from "node:events";

/**
 * A real TCP proxy on a free port in front of another port: a test cuts one client's connections
 * (e.g. one Herald's to Redis) and keeps it away for as long as it likes, while other clients of
 * the same server go on. Connections made while it is cut are closed at once.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      if (!proxy || proxy.cutOff) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ port: targetPort, host: targetHost });
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on("close", () => proxy?.sockets.delete(s));
        s.on("error", () => undefined); // the other side is closed with it
      }
      client.pipe(upstream).on("close", () => client.destroy());
      upstream.pipe(client).on("close", () => upstream.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Drops every connection through the proxy, and every new one until `restore`. */
  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
