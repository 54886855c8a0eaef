import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { NamePairSchema } from "../core/gen/herald/v1/event_pb.js";
import { renderTemplate } from "../core/hub/template.js";

describe("renderTemplate", () => {
  const pairs = [create(NamePairSchema, { name: "lastname", content: "Smith" }), create(NamePairSchema, { name: "n", content: "$&" })];
  it("fills placeholders, keeps unknown ones, takes replacement text literally", () => {
    assert.equal(renderTemplate("Hi {{lastname}} {{ n }} {{other}}", pairs), "Hi Smith $& {{other}}");
    assert.equal(renderTemplate("no placeholders", pairs), "no placeholders");
    const twice = [create(NamePairSchema, { name: "a", content: "1" }), create(NamePairSchema, { name: "a", content: "2" })];
    assert.equal(renderTemplate("{{a}}{{a}}-{{b}}", twice), "22-{{b}}", "adjacent placeholders; the last pair of a name wins");
    assert.equal(renderTemplate("{{a}}{{a}}-{{b}}", twice), "22-{{b}}", "the same from the parsed cache");
  });
});
