// Preloaded (NODE_OPTIONS=--require) by `npm run test:mutation`. @stryker-mutator/mocha-runner 9
// (the last to run on Node 20) requires mocha's CLI helpers without an extension
// (`mocha/lib/cli/run-helpers`); mocha 12 ships them as `.cjs`. Resolve such a path to its `.cjs`.
const Module = require("node:module");

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  try {
    return resolve.call(this, request, ...rest);
  } catch (err) {
    if (/[\\/]mocha[\\/]lib[\\/]cli[\\/][\w-]+$/.test(request)) return resolve.call(this, `${request}.cjs`, ...rest);
    throw err;
  }
};
