/** Printable ASCII that needs no escaping in an attribute value or element content. */
const PLAIN = /^[\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\x7e]*$/;

const NAMED: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/**
 * Escapes text for an XML attribute value or element content, in ASCII only: every other character
 * is a character reference (`&#xE9;`), so that a length counted in bytes is the same count in
 * characters (Dialogic's Java and C# listeners read the stream's lengths as characters), and a
 * client that decodes the body as ASCII or Latin-1 still reads the text right. Tab, LF and CR are
 * references too, so that attribute-value normalisation keeps them. What XML 1.0 cannot carry at
 * all, even as a reference (other C0 controls, lone surrogates, U+FFFE, U+FFFF), becomes U+FFFD.
 */
export function asciiXml(s: string): string {
  if (PLAIN.test(s)) return s;
  let out = "";
  for (const ch of s) {
    const named = NAMED[ch];
    if (named !== undefined) {
      out += named;
      continue;
    }
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c === 0x9 || c === 0xa || c === 0xd || (c >= 0x7f && c < 0xd800) || (c > 0xdfff && c < 0xfffe) || c > 0xffff) {
      out += `&#x${c.toString(16).toUpperCase()};`;
    } else out += "&#xFFFD;";
  }
  return out;
}
