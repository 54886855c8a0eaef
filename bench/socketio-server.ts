import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

/**
 * The peer of bench:peers: what a Node user would deploy instead of Herald for "publish once, every
 * watcher on every instance receives it": socket.io with the Redis adapter, as its documentation
 * sets it up (ioredis, one publishing and one subscribing connection). Watchers `join` a room; a
 * publisher `publish`es with an acknowledgement, and the server broadcasts to the room through the
 * adapter (Redis pub/sub reaches the other instances) before it acknowledges. Run one per instance,
 * all on one Redis: `node socketio-server.js REDIS_URL`.
 */
const url = process.argv[2];
if (!url) throw new Error("usage: socketio-server.js REDIS_URL");
const pub = new Redis(url);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub) });
const room = "events";

io.on("connection", (socket) => {
  socket.on("join", (ack: unknown) => {
    void socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("publish", (message: unknown, ack: unknown) => {
    io.to(room).emit("event", message);
    if (typeof ack === "function") ack();
  });
});

await Promise.all([pub, sub].map((r) => (r.status === "ready" ? undefined : new Promise((resolve) => r.once("ready", resolve)))));
http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (http.address() as { port: number }).port })}\n`);
});
process.once("SIGTERM", () => {
  io.close(() => {
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
});
