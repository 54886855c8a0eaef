import { FormatError } from "./format-error.js";

/**
 * Streaming pre-scans of a request body, fed each decoded chunk as it arrives: they refuse a body
 * nested too deep (or, XML, with too many elements) at the first character past the limit, before
 * the body is read whole and parsed. Parsing 1 MB of nested or repeated elements costs the event
 * loop half a second; this costs a few milliseconds. They only count: a body they pass is still
 * parsed and checked in full, so they may pass malformed input but never refuse a well-formed body
 * within the limits. A body that arrives whole in one chunk is not scanned (readText): the parsers
 * refuse it at the same limits.
 */
export type BodyScan = (chunk: string) => void;

export interface XmlScanLimits {
  maxDepth: number;
  maxElements: number;
}

// XML scanner states.
const TEXT = 0;
const LT = 1; // after "<"
const OPEN = 2; // in a start tag
const CLOSE = 3; // in an end tag
const PI = 4; // "<?" … "?>"
const BANG = 5; // after "<!"
const COMMENT_START = 6; // after "<!-"
const COMMENT = 7; // "<!--" … "-->"
const CDATA = 8; // "<![" … "]]>"

/** Counts element nesting and elements of an XML body; DOCTYPE / ENTITY declarations are refused at once. */
export function scanXml(limits: XmlScanLimits): BodyScan {
  let state = TEXT;
  let depth = 0;
  let elements = 0;
  let quote = 0; // the quote an attribute value in a start tag opened, or 0
  let prev = 0; // previous character inside a tag / PI
  let run = 0; // "-" (comment) or "]" (CDATA) seen in a row
  return (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      switch (state) {
        case TEXT: {
          // Text runs are most of a body: jump to the next "<" instead of stepping through them.
          const lt = c === 0x3c ? i : chunk.indexOf("<", i);
          if (lt === -1) i = chunk.length;
          else {
            i = lt;
            state = LT;
          }
          break;
        }
        case LT:
          if (c === 0x2f) state = CLOSE;
          else if (c === 0x3f) state = PI;
          else if (c === 0x21) state = BANG;
          else {
            if (++depth > limits.maxDepth) throw new FormatError(`XML nested deeper than ${limits.maxDepth} elements`);
            if (++elements > limits.maxElements) throw new FormatError(`XML has more than ${limits.maxElements} elements`);
            state = OPEN;
            quote = 0;
          }
          prev = c;
          break;
        case OPEN:
          if (quote !== 0) {
            if (c === quote) quote = 0;
          } else if (c === 0x22 || c === 0x27) {
            quote = c;
          } else if (c === 0x3e) {
            if (prev === 0x2f) depth--; // <a/>
            state = TEXT;
          }
          prev = c;
          break;
        case CLOSE:
          if (c === 0x3e) {
            // More end tags than start tags: never well-formed, so no reason to read on.
            if (--depth < 0) throw new FormatError("malformed XML: end tag without a start tag");
            state = TEXT;
          }
          break;
        case PI:
          if (c === 0x3e && prev === 0x3f) state = TEXT;
          prev = c;
          break;
        case BANG:
          if (c === 0x2d) state = COMMENT_START;
          else if (c === 0x5b) {
            state = CDATA;
            run = 0;
          } else throw new FormatError("DOCTYPE and entity declarations are not accepted");
          break;
        case COMMENT_START:
          state = COMMENT;
          run = 0;
          break;
        case COMMENT:
          if (c === 0x2d) run++;
          else if (c === 0x3e && run >= 2) state = TEXT;
          else run = 0;
          break;
        case CDATA:
          if (c === 0x5d) run++;
          else if (c === 0x3e && run >= 2) state = TEXT;
          else run = 0;
          break;
      }
    }
  };
}

/** Counts object/array nesting of a JSON body (brackets inside strings do not count). */
export function scanJson(maxDepth: number): BodyScan {
  let depth = 0;
  let inString = false;
  let escaped = false;
  return (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (++depth > maxDepth) throw new FormatError(`body nested deeper than ${maxDepth} levels`);
      } else if (c === 0x7d || c === 0x5d) depth--;
    }
  };
}
