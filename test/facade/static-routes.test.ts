import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Koa, { type Context } from "koa";
import Router from "@koa/router";
import { staticRoutes } from "../../facade/static-routes.js";
import { get, http, post } from "../support/http.js";

/**
 * staticRoutes in front of a router, on a real server: each reply says who answered (the fast
 * path leaves `ctx.router` unset, the router sets it), the route label the metrics would read,
 * and the params.
 */
describe("staticRoutes (exact routes before the router)", () => {
  let server: Server;
  let base: string;

  const answer = (ctx: Context) => {
    const routed = ctx as Context & { _matchedRoute?: string; router?: unknown };
    ctx.body = { by: routed.router ? "router" : "fast", route: routed._matchedRoute, params: ctx.params, seen: ctx.state["seen"] ?? [] };
  };
  const mark = (name: string) => (ctx: Context, next: Koa.Next) => {
    ctx.state["seen"] = [...((ctx.state["seen"] as string[] | undefined) ?? []), name];
    return next();
  };

  before(async () => {
    const router = new Router();
    router.post("/send", answer);
    router.get("/item/:id", answer);
    router.post("/two", mark("first"), answer);
    router.get("/same", answer);
    router.get("/same", mark("second handler"));
    const guarded = new Router();
    guarded.use(mark("router middleware"));
    guarded.post("/guarded", answer);
    const app = new Koa();
    app.use(staticRoutes(router));
    app.use(router.routes());
    app.use(router.allowedMethods());
    app.use(staticRoutes(guarded));
    app.use(guarded.routes());
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const reply = async (p: Promise<{ status: number; body: string }>) => {
    const r = await p;
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as { by: string; route: string; params: Record<string, string>; seen: string[] };
  };

  it("answers a route without parameters, spelled as declared, itself, marked as the router marks it", async () => {
    assert.deepEqual(await reply(post(`${base}/send`, "{}", "application/json")), { by: "fast", route: "/send", params: {}, seen: [] });
  });

  it("leaves other spellings, routes with parameters and other methods to the router", async () => {
    assert.equal((await reply(post(`${base}/send/`, "{}", "application/json"))).by, "router");
    assert.equal((await reply(post(`${base}/SEND`, "{}", "application/json"))).by, "router");
    assert.deepEqual(await reply(get(`${base}/item/42`)), { by: "router", route: "/item/:id", params: { id: "42" }, seen: [] });
    assert.deepEqual((await reply(get(`${base}/item/:id`))).params, { id: ":id" }, "a path spelled as the pattern is a parameter");
    const wrongMethod = await http(`${base}/send`, "PUT");
    assert.equal(wrongMethod.status, 405);
  });

  it("leaves to the router a route with more than its handler: middleware of its own, a second route, the router's", async () => {
    assert.deepEqual((await reply(post(`${base}/two`, "{}", "application/json"))).seen, ["first"]);
    const same = await get(`${base}/same`);
    assert.equal(JSON.parse(same.body).by, "router");
    assert.deepEqual((await reply(post(`${base}/guarded`, "{}", "application/json"))).seen, ["router middleware"]);
  });

  it("passes on what it does not know", async () => {
    assert.equal((await get(`${base}/nothing`)).status, 404);
  });
});
