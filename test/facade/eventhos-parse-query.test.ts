import { strict as assert } from "node:assert";
import { createRequire } from "node:module";
import { parseQueryString } from "../../facade/eventhos/parse-query.js";

// Koa's own parser of ctx.query: the reference (untyped, so required).
const koaParams = createRequire(import.meta.url)("koa/lib/search-params.js") as { parse: (s: string) => Record<string, unknown> };

describe("eventhos parseQueryString", () => {
  const koa = (s: string) => koaParams.parse(s);

  it("parses a query with nothing to decode exactly as Koa's ctx.query does", () => {
    const queries = [
      "",
      "?",
      "?a=1",
      "??a=1",
      "event-identifier=e1",
      "event-identifier=e1&access-key=hk_AbC-_xyz",
      "a=1&a=2&b=&c&a=3",
      "&&a=1&&",
      "=x&=y",
      "a==b=c",
      "__proto__=x&constructor=y&toString=z",
      "__proto__=1&__proto__=2",
      "x=a.b~c!*'()$,;:@/?",
      "k=v&K=V",
    ];
    for (const q of queries) {
      const ours = parseQueryString(q);
      assert.notEqual(ours, undefined, q);
      const theirs = koa(q);
      assert.deepEqual(Object.entries(ours!), Object.entries(theirs), q);
      assert.equal(Object.getPrototypeOf(ours), Object.getPrototypeOf(theirs), q);
    }
  });

  it("leaves to Koa what needs decoding or is not printable ASCII", () => {
    for (const q of ["a=%41", "a=b+c", "a+b=c", "a=é", "a=b c", "a=\t", "a=\u0000"]) assert.equal(parseQueryString(q), undefined, q);
  });
});
