/** The challenge of a legacy route's 401: its clients may send the legacy key as the Basic password. */
export const CHALLENGE = 'Basic realm="herald"';

const BASIC = /^Basic[ \t]+(\S+)[ \t]*$/i;
export const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * The credential of an `Authorization` header: the password of `Basic` (what follows the first
 * colon; "" without one), the token of `Bearer`; undefined for any other scheme or none. Pure.
 */
export function authorizationCredential(header: string): string | undefined {
  const h = header.trim();
  const basic = BASIC.exec(h);
  if (basic) {
    const userPass = Buffer.from(basic[1] as string, "base64").toString("utf8");
    const colon = userPass.indexOf(":");
    return colon < 0 ? "" : userPass.slice(colon + 1);
  }
  return BEARER.exec(h)?.[1];
}
