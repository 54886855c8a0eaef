/**
 * Small byte arrays without an allocation of their own. In V8 a `new Uint8Array(n)` of more than
 * 64 bytes gets a backing store off the heap, tracked until a collection frees it: measured here at
 * 0.45–1.9 µs each (more when kept a while), against 0.05–0.1 µs for a slice of a larger one. Herald
 * makes such arrays for every event it publishes and delivers (an envelope with its ids, a watch
 * response, a batch), so they are cut from larger blocks instead.
 *
 * A slice keeps its whole block alive: each source suits one lifetime.
 */

/**
 * `size` bytes from Node's shared Buffer pool (`Buffer.allocUnsafe`: 8 KiB blocks, for sizes under
 * 4 KiB), as a plain Uint8Array. For bytes on their way (encoded, sent, dropped): the pool's blocks
 * are shared with everything else in the process, so bytes kept for long would each hold a block
 * (use a ByteArena). Not zeroed: the caller writes every byte.
 */
export function pooledBytes(size: number): Uint8Array {
  const b = Buffer.allocUnsafe(size);
  return new Uint8Array(b.buffer, b.byteOffset, size);
}

/**
 * Byte arrays cut in turn from blocks owned by one arena, for arrays that are dropped in about the
 * order they were made (an app's event history, oldest first): a block goes once its last array
 * goes, so an arena holds about one block more than its live arrays need. Blocks start at 1 KiB and
 * double up to `maxBlock`, so that an arena used little (an app that publishes now and then) holds
 * little. An array over a quarter of the largest block gets an allocation of its own. Not zeroed.
 */
export class ByteArena {
  private block: Uint8Array | undefined;
  private at = 0;
  private next = 1024;

  constructor(private readonly maxBlock = 16 * 1024) {}

  alloc(size: number): Uint8Array {
    if (size > this.maxBlock >>> 2) return new Uint8Array(size);
    if (!this.block || this.at + size > this.block.length) {
      while (this.next < size) this.next *= 2;
      this.block = new Uint8Array(this.next);
      this.next = Math.min(this.next * 2, this.maxBlock);
      this.at = 0;
    }
    const out = this.block.subarray(this.at, this.at + size);
    this.at += size;
    return out;
  }
}
