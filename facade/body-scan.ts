import { FormatError } from "./format-error.js";

/**
 * Streaming pre-scans of a request body, fed each decoded chunk as it arrives: they refuse a body
 * nested too deep (or, XML, with too many elements) at the first character past the limit, before
 * the body is read whole and parsed. Parsing 1 MB of nested or repeated elements costs the event
 * loop half a second; this costs a few milliseconds. They only count: a body they pass is still
 * parsed and checked in full, so they may pass malformed input but never refuse a well-formed body
 * within the limits.
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
  const { maxDepth, maxElements } = limits;
  let state = TEXT;
  let depth = 0;
  let elements = 0;
  let quote = 0; // the quote an attribute value in a start tag opened, or 0
  let prev = 0; // previous character inside a tag / PI
  let run = 0; // "-" (comment) or "]" (CDATA) seen in a row
  return (chunk) => {
    // The state lives in locals while a chunk is read (closure variables cost a memory access each
    // time), and is saved back when the chunk ends or the scan throws.
    let s = state;
    let d = depth;
    let q = quote;
    let p = prev;
    let r = run;
    const n = chunk.length;
    try {
      for (let i = 0; i < n; i++) {
        if (s === TEXT) {
          // Text runs are most of a body: jump to the next "<" instead of stepping through them.
          const lt = chunk.indexOf("<", i);
          if (lt === -1) break;
          i = lt;
          s = LT;
          continue;
        }
        const c = chunk.charCodeAt(i);
        switch (s) {
          case LT:
            if (c === 0x2f) s = CLOSE;
            else if (c === 0x3f) s = PI;
            else if (c === 0x21) s = BANG;
            else {
              if (++d > maxDepth) throw new FormatError(`XML nested deeper than ${maxDepth} elements`);
              if (++elements > maxElements) throw new FormatError(`XML has more than ${maxElements} elements`);
              s = OPEN;
              q = 0;
            }
            p = c;
            break;
          case OPEN:
            if (q !== 0) {
              if (c === q) q = 0;
            } else if (c === 0x22 || c === 0x27) {
              q = c;
            } else if (c === 0x3e) {
              if (p === 0x2f) d--; // <a/>
              s = TEXT;
            }
            p = c;
            break;
          case CLOSE:
            if (c === 0x3e) {
              // More end tags than start tags: never well-formed, so no reason to read on.
              if (--d < 0) throw new FormatError("malformed XML: end tag without a start tag");
              s = TEXT;
            }
            break;
          case PI:
            if (c === 0x3e && p === 0x3f) s = TEXT;
            p = c;
            break;
          case BANG:
            if (c === 0x2d) s = COMMENT_START;
            else if (c === 0x5b) {
              s = CDATA;
              r = 0;
            } else throw new FormatError("DOCTYPE and entity declarations are not accepted");
            break;
          case COMMENT_START:
            s = COMMENT;
            r = 0;
            break;
          case COMMENT:
            if (c === 0x2d) r++;
            else if (c === 0x3e && r >= 2) s = TEXT;
            else r = 0;
            break;
          case CDATA:
            if (c === 0x5d) r++;
            else if (c === 0x3e && r >= 2) s = TEXT;
            else r = 0;
            break;
        }
      }
    } finally {
      state = s;
      depth = d;
      quote = q;
      prev = p;
      run = r;
    }
  };
}

/** Counts object/array nesting of a JSON body (brackets inside strings do not count). */
export function scanJson(maxDepth: number): BodyScan {
  let depth = 0;
  let inString = false;
  let escaped = false;
  return (chunk) => {
    // Locals while a chunk is read, saved back at its end (see scanXml).
    let d = depth;
    let str = inString;
    let esc = escaped;
    const n = chunk.length;
    try {
      for (let i = 0; i < n; i++) {
        const c = chunk.charCodeAt(i);
        if (str) {
          if (esc) esc = false;
          else if (c === 0x5c) esc = true;
          else if (c === 0x22) str = false;
        } else if (c === 0x22) str = true;
        else if (c === 0x7b || c === 0x5b) {
          if (++d > maxDepth) throw new FormatError(`body nested deeper than ${maxDepth} levels`);
        } else if (c === 0x7d || c === 0x5d) d--;
      }
    } finally {
      depth = d;
      inString = str;
      escaped = esc;
    }
  };
}
