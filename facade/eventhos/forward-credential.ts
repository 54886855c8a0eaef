import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The admin routes act with their caller's credential, not the facade's: each call to the core
 * carries the request's `authorization`, and the core's authorization layer answers only admin
 * credentials. A call made outside an admin request fails rather than go out as the facade.
 */
export class ForwardCredential {
  private readonly current = new AsyncLocalStorage<string>();
  /** Admin requests in progress. */
  private running = 0;

  /** Runs `fn` with `authorization` (never empty) carried by every call of the clients from `forward`. */
  async run<T>(authorization: string, fn: () => Promise<T>): Promise<T> {
    if (authorization === "") throw new Error("no credential to forward");
    this.running++;
    try {
      return await this.current.run(authorization, fn);
    } finally {
      // Once enabled, an AsyncLocalStorage makes Node 20 run hooks on every promise of the process
      // (a tenth of /event/send's CPU, long after the one admin call that enabled it): it is
      // switched off whenever no admin request runs, and run() switches it on again.
      if (--this.running === 0) this.current.disable();
    }
  }

  /** The client, its calls carrying the credential of the admin request in progress. */
  forward<C extends object>(client: C): C {
    const current = this.current;
    return new Proxy(client, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (req: unknown, options?: { headers?: ConstructorParameters<typeof Headers>[0] }) => {
          const authorization = current.getStore();
          if (authorization === undefined) throw new Error("an admin route called the core outside its request");
          const headers = new Headers(options?.headers);
          headers.set("authorization", authorization);
          return (value as (r: unknown, o: unknown) => unknown).call(target, req, { ...options, headers });
        };
      },
    });
  }
}
