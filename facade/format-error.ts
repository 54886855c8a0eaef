/** A request body that is not what the contract describes: answered with the contract's 400. */
export class FormatError extends Error {
  override readonly name = "FormatError";
}
