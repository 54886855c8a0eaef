import { createServer } from "node:http";
import Koa from "koa";
import bodyParser from "koa-bodyparser";
import { SaxesParser } from "saxes";

/**
 * The ceiling of the facade benches: a bare Koa app whose one route answers a fixed body, as cheap
 * as an HTTP route on this stack gets. Node still reads the request body. Argument: `kpns`
 * (default: POST /kpns/service/eventpushmessage, a messageResponse) or `eventhos` (POST
 * /event/send, eventhos' success reply). With `--parse` the route first reads the body with
 * koa-bodyparser and parses XML with saxes (one parser, reused, as the facade does; no handlers): the
 * floor of the facade's stack before any Herald code runs.
 */
const routes = {
  kpns: {
    path: "/kpns/service/eventpushmessage",
    type: "text/xml;charset=UTF-8",
    body:
      "<messageResponse>\n    <code>200</code>\n    <description>Request Queued. </description>\n" +
      '    <messages>\n        <message  msgId="1" ></message>\n    </messages>\n</messageResponse>',
  },
  eventhos: { path: "/event/send", type: "application/json", body: '{"code":200000,"message":"success"}' },
};
const route = routes[(process.argv[2] ?? "kpns") as keyof typeof routes];
const app = new Koa();
if (process.argv.includes("--parse")) {
  const parser = new SaxesParser({ position: false });
  app.use(bodyParser({ enableTypes: ["json", "xml"] }));
  app.use(async (ctx, next) => {
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? "";
    if (!ctx.request.is("json")) parser.write(raw).close();
    await next();
  });
}
app.use((ctx) => {
  if (ctx.method !== "POST" || ctx.path !== route.path) return;
  ctx.set("Content-Type", route.type);
  ctx.body = route.body;
});
const server = createServer(app.callback());
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + "\n");
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
