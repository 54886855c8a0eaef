import { strict as assert } from "node:assert";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { rawClients, unary } from "../support/grpc-client.js";
import { root } from "../support/herald-process.js";

/** Debian's chromium (`.ci/run` installs it); without it these tests are skipped. */
const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const ADMIN = "console-test-admin-key";
/** Where the run leaves its screenshot (ignored by git). */
const shots = join(root, ".tmp", "screenshots");

describe("the live console in a real browser (headless Chromium, Playwright)", () => {
  let h: TestHerald;
  let browser: Browser;
  let page: Page;

  before(async function () {
    if (!existsSync(CHROMIUM)) this.skip();
    h = await startTestHerald({ auth: { adminKey: ADMIN }, server: { seedFile: "examples/seed.yaml", console: true } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await h?.stop();
  });

  it("is not served unless --console is given", async () => {
    const plain = await startTestHerald({});
    try {
      assert.equal((await fetch(`http://127.0.0.1:${plain.httpPort}/console`)).status, 404);
    } finally {
      await plain.stop();
    }
    const page = await fetch(`http://127.0.0.1:${h.httpPort}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
  });

  it("shows nothing without a key: the watch is refused UNAUTHENTICATED", async () => {
    await page.goto(`http://127.0.0.1:${h.httpPort}/console`);
    await page.click("#watch");
    await page.locator("#status", { hasText: /^Unauthenticated/ }).waitFor();
    assert.equal(await page.locator("#events li").count(), 0);
  });

  it("streams an app's events live as they are published over gRPC, counts the watcher, and sends a test event", async () => {
    await page.fill("#key", ADMIN);
    await page.fill("#app", "demo");
    const live = watchersLive(h);
    await page.click("#watch");
    await live;
    await page.locator("#status", { hasText: /^watching demo$/ }).waitFor();

    // Published by a service over gRPC: the page receives it over Connect-Web.
    const grpc = rawClients(h.grpcPort, ADMIN);
    try {
      await unary(grpc.hub, "sendEvent", { eventId: "1", namePairs: [{ name: "lastname", content: "Browser" }] });
    } finally {
      grpc.close();
    }
    const first = page.locator("#events li").first();
    await first.waitFor();
    assert.match((await first.textContent()) ?? "", /event 1 → everyone: Hello Browser, welcome aboard\./);
    // The watcher count comes from /metrics with the same key, the events/s from the stream.
    await page.locator("#watchers", { hasText: /^[1-9]\d*$/ }).waitFor();

    await page.fill("#text", "pushed from the page");
    await page.click("#push");
    await page.locator("#events li", { hasText: "push → everyone: pushed from the page" }).waitFor();
    assert.match((await page.textContent("#sent")) ?? "", /^sent: msg \d+, offset 2$/);

    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, "console.png"), fullPage: true });
  });
});
