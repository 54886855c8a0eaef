import { request } from "node:http";
import { createInterface } from "node:readline";

/**
 * The client side of bench:xms, in its own process so that its memory does not count: opens one
 * long-held GET per URL given on stdin (one per line, then an empty line), says `{"open":n}` when
 * every one answered 200, then `{"received":n}` once every stream has received a document after
 * the parent says "publish".
 */
const urls: string[] = [];
const lines = createInterface({ input: process.stdin });
let phase: "urls" | "open" = "urls";
let received = 0;
let expecting = false;
const got = new Set<number>();

function say(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

lines.on("line", (line) => {
  if (phase === "urls") {
    if (line !== "") {
      urls.push(line);
      return;
    }
    phase = "open";
    void openAll();
    return;
  }
  if (line === "publish") expecting = true;
  if (line === "exit") process.exit(0);
});

async function openAll(): Promise<void> {
  let open = 0;
  for (let i = 0; i < urls.length; i += 200) {
    await Promise.all(
      urls.slice(i, i + 200).map(
        (url, j) =>
          new Promise<void>((resolve, reject) => {
            const index = i + j;
            const req = request(url, { agent: false }, (res) => {
              if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
              res.on("data", (chunk: Buffer) => {
                // Keepalives are not what we wait for: only documents that carry event_data.
                if (expecting && !got.has(index) && chunk.includes("event_data")) {
                  got.add(index);
                  if (++received === urls.length) say({ received });
                }
              });
              open++;
              resolve();
            });
            req.on("error", reject);
            req.end();
          }),
      ),
    );
  }
  say({ open });
}
