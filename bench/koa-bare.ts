import { createServer } from "node:http";
import Koa from "koa";

/**
 * The ceiling for bench:facade: a bare Koa app whose one route answers a fixed messageResponse,
 * as cheap as an HTTP route on this stack gets. Node still reads the request body.
 */
const body = '<messageResponse>\n    <code>200</code>\n    <description>Request Queued. </description>\n' +
  '    <messages>\n        <message  msgId="1" ></message>\n    </messages>\n</messageResponse>';
const app = new Koa();
app.use((ctx) => {
  if (ctx.method !== "POST" || ctx.path !== "/kpns/service/eventpushmessage") return;
  ctx.set("Content-Type", "text/xml;charset=UTF-8");
  ctx.body = body;
});
const server = createServer(app.callback());
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + "\n");
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
