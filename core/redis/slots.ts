/**
 * Redis Cluster hash slots, computed here as Redis does (CRC16/XMODEM of the key's hash tag, or of
 * the whole key when it has none, modulo 16384), so that batched writes can be split per slot and a
 * per-slot msg id counter named, without asking the cluster.
 */
export const SLOTS = 16_384;

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

function crc16(bytes: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** The slot of a key or channel name: of its `{tag}` if it has a non-empty one, else of the whole name. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, "utf8");
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes, open + 1, close) % SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % SLOTS;
}

let tags: string[] | undefined;

/**
 * A hash tag that lands in `slot`: `#<n>` with the smallest n that does. Herald names one key per
 * slot with it (the slot's msg id counter), shared by every app whose keys hash there.
 */
export function slotTag(slot: number): string {
  if (!tags) {
    const found = new Array<string>(SLOTS);
    let left = SLOTS;
    for (let n = 0; left > 0; n++) {
      const tag = `#${n}`;
      const s = keySlot(`{${tag}}`);
      if (found[s] === undefined) {
        found[s] = tag;
        left--;
      }
    }
    tags = found;
  }
  return tags[slot]!;
}
