import { strict as assert } from "node:assert";
import { once } from "node:events";
import { connect, type Socket } from "node:net";

/** A raw TCP connection to a port, with what the server wrote and when it closed. */
export class RawConnection {
  readonly socket: Socket;
  received = "";
  readonly closed: Promise<number>;
  private readonly opened = Date.now();
  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setEncoding("latin1");
    this.socket.on("data", (d: string) => {
      this.received += d;
    });
    this.socket.on("error", () => undefined); // a reset is one way to be closed
    this.closed = once(this.socket, "close").then(() => Date.now() - this.opened);
  }
  async ready(): Promise<this> {
    await once(this.socket, "connect");
    return this;
  }
  write(s: string): void {
    this.socket.write(s);
  }
  /** Resolves with the first full response head, or fails if the connection closes first. */
  async response(): Promise<string> {
    while (!this.received.includes("\r\n\r\n")) {
      await Promise.race([once(this.socket, "data"), this.closed.then(() => assert.fail(`closed; got ${JSON.stringify(this.received)}`))]);
    }
    return this.received;
  }

  /** Resolves with the first whole response (its body by Content-Length). */
  async reply(): Promise<{ status: number; head: string; body: string }> {
    for (;;) {
      const end = this.received.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.received.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const body = Buffer.from(this.received.slice(end + 4), "latin1");
        if (body.length >= length) return { status: Number(head.split(" ")[1]), head, body: body.subarray(0, length).toString("utf8") };
      }
      await Promise.race([once(this.socket, "data"), this.closed.then(() => assert.fail(`closed; got ${JSON.stringify(this.received)}`))]);
    }
  }
}
