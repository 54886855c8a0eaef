import { createContextKey } from "@connectrpc/connect";

/**
 * What a transport tells a server-streaming handler about the socket under it, through the
 * handler context (`ctx.values.get(streamFlowKey)`); absent when the transport cannot tell.
 * A transport that offers it pulls the next response only once the socket has taken the previous
 * ones (back-pressure), so what the reader does not read waits in the handler's bounded queue.
 */
export interface StreamFlow {
  /** Bytes of responses the transport has taken and not yet written to the socket. */
  pendingBytes(): number;
  /**
   * The handler is ending the stream: if the transport is waiting for the socket to take more,
   * it stops waiting and pulls at once, so that the end (a status) is queued behind what it holds.
   */
  interrupt(): void;
}

export const streamFlowKey = createContextKey<StreamFlow | undefined>(undefined, { description: "herald stream flow" });
