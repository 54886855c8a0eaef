import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { once } from "node:events";

export interface TargetCall {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** performance.now() when the request arrived, and when its answer went out. */
  at: number;
  answeredAt?: number;
}

/** What a target does with its n-th call (1-based): answer, or hold the request open (no answer). */
export type Behaviour = (
  n: number,
  call: TargetCall,
) => { status: number; body?: string } | "hold" | Promise<{ status: number; body?: string }>;

/** A real HTTP server a contract calls; it counts calls and lets a test await them. */
export class Target {
  readonly calls: TargetCall[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private readonly held = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(behaviour: Behaviour): Promise<Target> {
    let target: Target | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const call: TargetCall = {
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          at: performance.now(),
        };
        target!.calls.push(call);
        const answer = behaviour(target!.calls.length, call);
        target!.waiters = target!.waiters.filter((w) => (target!.calls.length >= w.n ? (w.resolve(), false) : true));
        if (answer === "hold") {
          target!.held.add(res);
          res.on("close", () => target!.held.delete(res));
          return;
        }
        void Promise.resolve(answer).then((a) => {
          call.answeredAt = performance.now();
          res.writeHead(a.status, { "content-type": "application/json" }).end(a.body ?? "{}");
        });
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    target = new Target(server, (server.address() as { port: number }).port);
    return target;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Resolves once `n` calls have arrived. */
  received(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Cuts the held requests' connections. */
  dropHeld(): void {
    for (const res of this.held) res.destroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.dropHeld();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export const ok: Behaviour = () => ({ status: 200, body: '{"ok":true}' });
/** Fails (500) the first `failures` calls, then succeeds. */
export const failFirst =
  (failures: number): Behaviour =>
  (n) =>
    n <= failures ? { status: 500, body: '{"error":"down"}' } : { status: 200, body: '{"ok":true}' };
export const hang: Behaviour = () => "hold";
