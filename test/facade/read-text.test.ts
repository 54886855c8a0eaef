import { strict as assert } from "node:assert";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { scanXml } from "../../facade/body-scan.js";
import { FormatError } from "../../facade/format-error.js";
import { readText } from "../../facade/read-text.js";

/** A request body arriving in exactly these chunks (a real stream; readText needs only its headers and events). */
function body(chunks: number[][], headers: Record<string, string> = {}): IncomingMessage {
  const req = Readable.from(chunks.map((c) => Buffer.from(c)));
  return Object.assign(req, { headers }) as unknown as IncomingMessage;
}

const bytes = (s: string) => [...Buffer.from(s)];
const read = (req: IncomingMessage, charset = "") => readText(req, { limit: 1 << 20, charset });

describe("readText (pure)", () => {
  it("UTF-8: a character split across chunks reads whole, with and without a charset label", async () => {
    const e = bytes("é"); // 0xc3 0xa9
    for (const charset of ["", "utf-8", "UTF8", "unicode-1-1-utf-8"]) {
      assert.equal(
        await read(
          body([
            [...bytes("<a>"), e[0]!],
            [e[1]!, ...bytes("</a>")],
          ]),
          charset,
        ),
        "<a>é</a>",
        charset,
      );
    }
  });

  it("UTF-8: drops a leading byte order mark, as TextDecoder does, and only a leading one", async () => {
    assert.equal(
      await read(
        body([
          [0xef, 0xbb],
          [0xbf, ...bytes("{}")],
        ]),
      ),
      "{}",
    );
    assert.equal(await read(body([[...bytes("a"), 0xef, 0xbb, 0xbf]])), "a\ufeff");
  });

  it("UTF-8: bytes that are not UTF-8 become U+FFFD exactly as TextDecoder makes them", async () => {
    const bad = [
      [0x61, 0xff, 0xc3],
      [0x28, 0xe2, 0x82],
      [0x62, 0xf0, 0x9f, 0x98],
    ];
    const expected = new TextDecoder().decode(Buffer.from(bad.flat()));
    assert.equal(await read(body(bad)), expected);
    assert.ok(expected.includes("\ufffd"));
  });

  it("another charset is decoded by its own decoder", async () => {
    assert.equal(
      await read(
        body([
          [0x3c, 0x61, 0x3e, 0xe9],
          [0x3c, 0x2f, 0x61, 0x3e],
        ]),
        "iso-8859-1",
      ),
      "<a>é</a>",
    );
    await assert.rejects(read(body([[0x61]]), "x-no-such-charset"), FormatError);
  });

  it("the scan sees the markup after multi-byte characters, in UTF-8 as in other charsets", async () => {
    const deep = (charset: string, text: string) =>
      readText(body([bytes(text)]), { limit: 1 << 20, charset, scan: scanXml({ maxDepth: 2, maxElements: 100 }) });
    await assert.rejects(deep("", "<é><é><é></é></é></é>"), /deeper than 2/);
    assert.equal(await deep("", "<é><é>😀</é></é>"), "<é><é>😀</é></é>");
  });

  it("UTF-8: a body whole in its first chunk, as its Content-Length says, is not scanned (its parser checks the limits); any other is", async () => {
    const text = "<a><a><a></a></a></a>";
    const length = { "content-length": String(text.length) };
    const scan = () => scanXml({ maxDepth: 2, maxElements: 100 });
    assert.equal(await readText(body([bytes(text)], length), { limit: 1 << 20, charset: "", scan: scan() }), text);
    await assert.rejects(readText(body([bytes(text)]), { limit: 1 << 20, charset: "", scan: scan() }), /deeper than 2/, "no length");
    const halves = [bytes(text.slice(0, 9)), bytes(text.slice(9))];
    await assert.rejects(readText(body(halves, length), { limit: 1 << 20, charset: "", scan: scan() }), /deeper than 2/, "two chunks");
    await assert.rejects(
      readText(body([bytes(text)], length), { limit: 1 << 20, charset: "latin1", scan: scan() }),
      /deeper than 2/,
      "decoded",
    );
  });
});
