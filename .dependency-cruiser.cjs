/**
 * Which way imports may point (CONTRIBUTING.md has the map): server → facade → core, and inside
 * core from the services down to the infrastructure, never back. `npm run lint` fails on any
 * violation and on any cycle.
 * @type {import('dependency-cruiser').IConfiguration}
 */
const base = "^core/(gen|wire)/|^core/(logger|timestamp|unavailable-error)\\.ts$";

/** A forbidden direction: modules matching `from` may not import modules matching `to` (unless `except`). */
function forbid(name, comment, from, to, except) {
  return { name, severity: "error", comment, from: { path: from }, to: except ? { path: to, pathNot: except } : { path: to } };
}
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles between modules (type-only imports count too).",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-circular-folders",
      severity: "error",
      scope: "folder",
      comment: "No cycles between folders either.",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that resolves to nothing (typo, or a .js specifier with no .ts beside it).",
      from: {},
      to: { couldNotResolve: true },
    },
    forbid("core-not-to-facade-or-server", "core/ never imports facade/ or server/.", "^core/", "^(facade|server)/"),
    forbid(
      "console-only-generated",
      "The browser console talks to the API like any client: it uses the generated code only.",
      "^console/",
      "^(core|facade|server|test|bench)/",
      "^core/gen/",
    ),
    forbid("nothing-to-console", "The console is a browser bundle: nothing imports it.", "^(core|facade|server|test|bench)/", "^console/"),
    forbid("facade-not-to-server", "Only the composition root (server/) wires the facade.", "^facade/", "^server/"),
    forbid(
      "facade-only-core-api",
      "The facade reaches the core through the generated clients: from core/ it uses the generated code, the logger, the error reasons and the push-stream protocol (an in-process client's streams taken push-style) only.",
      "^facade/",
      "^core/",
      "^core/(gen/|logger\\.ts$|rpc/errors\\.ts$|wire/push-stream\\.ts$)",
    ),
    forbid(
      "core-base-is-a-leaf",
      "gen, wire, logger, timestamp and the unavailable error import nothing else of core.",
      base,
      "^core/",
      base,
    ),
    forbid(
      "redis-is-infrastructure",
      "core/redis (connections, keys, scripts, the tracked cache) uses only the base.",
      "^core/redis/",
      "^core/",
      `${base}|^core/redis/`,
    ),
    forbid(
      "backends-not-to-services",
      "Bus, stores and queues know nothing of the services, the RPC layer or the transports.",
      "^core/(bus|store|queue)/",
      "^core/(hub|registry|eventhos|rpc|transport|auth)/",
    ),
    forbid(
      "rpc-helpers-stay-small",
      "core/rpc (errors, validation, limits, error mapping) is shared by the services and depends on none of them.",
      "^core/rpc/",
      "^core/(hub|registry|eventhos|transport|store|queue|redis|auth)/",
    ),
    forbid(
      "services-not-to-transport",
      "Handlers are transport-free (connect-es style); the composition root picks the transports.",
      "^core/(hub|registry|eventhos)/",
      "^core/transport/",
    ),
    forbid(
      "services-apart",
      "hub, registry and eventhos do not import one another.",
      "^core/(hub|registry|eventhos)/",
      "^core/(hub|registry|eventhos)/",
      "^core/$1/",
    ),
    forbid(
      "auth-below-services",
      "core/auth (principals, API keys, the authorization layer) serves every service and imports none of them, nor a transport.",
      "^core/auth/",
      "^core/(hub|registry|eventhos|transport)/",
    ),
    forbid(
      "transport-is-generic",
      "Transports serve any connect-es service: they use only the base.",
      "^core/transport/",
      "^core/",
      `${base}|^core/transport/`,
    ),
    forbid("src-not-to-test", "Tests and benches stand outside the product.", "^(core|facade|server)/", "^(test|bench)/"),
  ],
  options: {
    // TypeScript 7 (tsgo) has no JS compiler API, so dependency-cruiser's tsc parser is unavailable:
    // swc (@swc/core) parses the .ts files. Without it .ts files are skipped silently ("0 modules").
    parser: "swc",
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    // "./foo.js" → foo.ts is built in; package.json "exports" subpaths (@bufbuild/protobuf/wkt) need these.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
