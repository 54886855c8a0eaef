/**
 * Which way imports may point (CONTRIBUTING.md has the map): server → facade → core, and inside
 * core from the services down to the infrastructure, never back. `npm run lint` fails on any
 * violation and on any cycle.
 * @type {import('dependency-cruiser').IConfiguration}
 */
const base = "^core/(gen|wire)/|^core/(logger|timestamp|unavailable-error)\\.ts$";
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
      name: "core-not-to-facade-or-server",
      severity: "error",
      comment: "core/ never imports facade/ or server/.",
      from: { path: "^core/" },
      to: { path: "^(facade|server)/" },
    },
    {
      name: "facade-not-to-server",
      severity: "error",
      comment: "Only the composition root (server/) wires the facade.",
      from: { path: "^facade/" },
      to: { path: "^server/" },
    },
    {
      name: "facade-only-core-api",
      severity: "error",
      comment:
        "The facade reaches the core through the generated clients: from core/ it uses the generated code, the logger and the error reasons only.",
      from: { path: "^facade/" },
      to: { path: "^core/", pathNot: "^core/(gen/|logger\\.ts$|rpc/errors\\.ts$)" },
    },
    {
      name: "core-base-is-a-leaf",
      severity: "error",
      comment: "gen, wire, logger, timestamp and the unavailable error import nothing else of core.",
      from: { path: base },
      to: { path: "^core/", pathNot: base },
    },
    {
      name: "redis-is-infrastructure",
      severity: "error",
      comment: "core/redis (connections, keys, scripts, the tracked cache) uses only the base.",
      from: { path: "^core/redis/" },
      to: { path: "^core/", pathNot: `${base}|^core/redis/` },
    },
    {
      name: "backends-not-to-services",
      severity: "error",
      comment: "Bus, stores and queues know nothing of the services, the RPC layer or the transports.",
      from: { path: "^core/(bus|store|queue)/" },
      to: { path: "^core/(hub|registry|eventhos|rpc|transport)/" },
    },
    {
      name: "rpc-helpers-stay-small",
      severity: "error",
      comment: "core/rpc (errors, validation, limits, error mapping) is shared by the services and depends on none of them.",
      from: { path: "^core/rpc/" },
      to: { path: "^core/(hub|registry|eventhos|transport|store|queue|redis)/" },
    },
    {
      name: "services-not-to-transport",
      severity: "error",
      comment: "Handlers are transport-free (connect-es style); transports are chosen by the composition root.",
      from: { path: "^core/(hub|registry|eventhos)/" },
      to: { path: "^core/transport/" },
    },
    {
      name: "services-apart",
      severity: "error",
      comment: "hub, registry and eventhos do not import one another.",
      from: { path: "^core/(hub|registry|eventhos)/" },
      to: { path: "^core/(hub|registry|eventhos)/", pathNot: "^core/$1/" },
    },
    {
      name: "transport-is-generic",
      severity: "error",
      comment: "Transports serve any connect-es service: they use only the base.",
      from: { path: "^core/transport/" },
      to: { path: "^core/", pathNot: `${base}|^core/transport/` },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that resolves to nothing (typo, or a .js specifier with no .ts beside it).",
      from: {},
      to: { couldNotResolve: true },
    },
    { name: "src-not-to-test", severity: "error", from: { path: "^(core|facade|server)/" }, to: { path: "^(test|bench)/" } },
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
