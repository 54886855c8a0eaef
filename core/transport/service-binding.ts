import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { FastEncoders } from "../wire/fast-encoders.js";
import type { FastDecoders } from "../wire/fast-decoders.js";

/** A service and the connect-es handlers that implement it, as every transport takes them. */
export interface ServiceBinding {
  service: DescService;
  /** A connect-es ServiceImpl (or part of one): the same functions every transport serves. */
  impl: object;
  encoders?: FastEncoders;
  decoders?: FastDecoders;
}

/** A ServiceBinding whose impl is type-checked against its service. */
export function bindService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServiceBinding {
  return { service, impl };
}
