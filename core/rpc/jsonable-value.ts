import type { Value } from "@bufbuild/protobuf/wkt";

const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

/**
 * What keeps a google.protobuf.Value from being written as JSON, or undefined: a number JSON
 * cannot write (NaN, ±Infinity: a Connect-JSON 1e400, or any double over gRPC) or a string or key
 * with a lone surrogate. Iterative: any depth is safe.
 */
export function jsonProblem(value: Value): string | undefined {
  let problem: string | undefined;
  visit(value, (v) => {
    problem = v;
    return false;
  });
  return problem;
}

/**
 * Rewrites such a value in place so that it can be written as JSON, as JSON.stringify would:
 * non-finite numbers become null, lone surrogates U+FFFD. For values stored before they were
 * refused at the door, so that one old record cannot fail every reader. Returns what it fixed.
 */
export function makeJsonable(value: Value): string[] {
  const fixed: string[] = [];
  visit(value, (problem, node, key) => {
    fixed.push(problem);
    if (node.kind.case === "numberValue") node.kind = { case: "nullValue", value: 0 };
    else if (node.kind.case === "stringValue") node.kind.value = node.kind.value.replace(LONE_SURROGATES, "\uFFFD");
    else if (node.kind.case === "structValue" && key !== undefined) {
      const fields = node.kind.value.fields;
      const child = fields[key]!;
      delete fields[key];
      fields[key.replace(LONE_SURROGATES, "\uFFFD")] = child;
    }
    return true;
  });
  return fixed;
}

/** Calls `found` for each problem (with the node, and the key for a bad key) while it returns true. */
function visit(root: Value, found: (problem: string, node: Value, key?: string) => boolean): void {
  const stack: Value[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const { kind } = node;
    switch (kind.case) {
      case "numberValue":
        if (!Number.isFinite(kind.value) && !found(`the number ${kind.value}`, node)) return;
        break;
      case "stringValue":
        if (LONE_SURROGATE.test(kind.value) && !found("a string with a lone surrogate", node)) return;
        break;
      case "structValue":
        for (const [key, child] of Object.entries(kind.value.fields)) {
          stack.push(child);
          if (LONE_SURROGATE.test(key) && !found("a key with a lone surrogate", node, key)) return;
        }
        break;
      case "listValue":
        for (const child of kind.value.values) stack.push(child);
        break;
    }
  }
}
