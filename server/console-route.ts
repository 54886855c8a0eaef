import { readFileSync } from "node:fs";
import type { RequestListener } from "node:http";
import { fileURLToPath } from "node:url";

/** Where the build puts the console (dist/console: esbuild's bundle and the page). */
const consoleDir = fileURLToPath(new URL("../console/", import.meta.url));

const files: Record<string, { name: string; type: string }> = {
  "/console": { name: "index.html", type: "text/html; charset=utf-8" },
  "/console/": { name: "index.html", type: "text/html; charset=utf-8" },
  "/console/console.js": { name: "console.js", type: "text/javascript; charset=utf-8" },
  "/console/console.css": { name: "console.css", type: "text/css; charset=utf-8" },
};

/**
 * The live console's page and script (--console), read once at start, served as they are. They
 * hold no data: everything the page shows it asks the API for with the key typed into it, so with
 * access control on it shows nothing without an admin (or watch/publish) credential. A browser
 * cannot attach a bearer credential to a navigation, which is why the page itself is not behind one.
 */
export function withConsoleRoute(next: RequestListener): RequestListener {
  const loaded = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { name, type }] of Object.entries(files)) {
    loaded.set(path, { body: readFileSync(`${consoleDir}${name}`), type });
  }
  return (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const file = req.method === "GET" || req.method === "HEAD" ? loaded.get(path) : undefined;
    if (!file) return next(req, res);
    res.writeHead(200, {
      "content-type": file.type,
      "content-length": file.body.length,
      "cache-control": "no-cache",
      // Only this origin: the page talks to the Herald that served it, and to nothing else.
      "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
      "x-content-type-options": "nosniff",
    });
    res.end(req.method === "HEAD" ? undefined : file.body);
  };
}
