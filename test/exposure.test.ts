import { strict as assert } from "node:assert";
import { checkExposure, ExposureError, isLoopback } from "../server/exposure.js";
import { defaultConfig } from "../server/config.js";

describe("the exposure rule", () => {
  const loopback = [
    "127.0.0.1",
    "127.5.5.5",
    "127.255.255.254",
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "localhost",
    "LOCALHOST",
  ];
  const beyond = [
    "0.0.0.0",
    "::",
    "[::]",
    "192.168.1.10",
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "fd00::2",
    "example.com",
    "localhost.example.com",
    "127.1",
    "128.0.0.1",
  ];

  it("knows loopback from everything else", () => {
    for (const host of loopback) assert.equal(isLoopback(host), true, host);
    for (const host of beyond) assert.equal(isLoopback(host), false, host);
  });

  it("lets loopback start, insecure or not, and says it is not insecure", () => {
    for (const host of loopback) {
      assert.deepEqual(checkExposure(host, false), { host, loopback: true, insecure: false, authenticated: false });
      assert.deepEqual(checkExposure(host, true), { host, loopback: true, insecure: false, authenticated: false });
    }
  });

  it("refuses anything else without --insecure, naming the host and the way out", () => {
    for (const host of beyond) {
      assert.throws(
        () => checkExposure(host, false),
        (err: unknown) =>
          err instanceof ExposureError &&
          err.message.startsWith(
            `--host ${host} would serve the API unauthenticated beyond this machine: no admin key is configured; set one (HERALD_ADMIN_KEY`,
          ) &&
          err.message.includes("--insecure"),
      );
      assert.deepEqual(checkExposure(host, true), { host, loopback: false, insecure: true, authenticated: false });
    }
  });

  it("lets any interface start once access control is on (an admin key), and never calls that insecure", () => {
    for (const host of [...loopback, ...beyond]) {
      assert.deepEqual(checkExposure(host, false, true), { host, loopback: isLoopback(host), insecure: false, authenticated: true });
      assert.deepEqual(checkExposure(host, true, true), { host, loopback: isLoopback(host), insecure: false, authenticated: true });
    }
  });

  it("is safe with the defaults", () => {
    assert.equal(defaultConfig.server.host, "127.0.0.1");
    assert.equal(defaultConfig.server.insecure, false);
    assert.doesNotThrow(() => checkExposure(defaultConfig.server.host, defaultConfig.server.insecure));
  });
});
