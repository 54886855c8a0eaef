import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
} from "@bufbuild/protobuf/wkt";

/**
 * What server reflection answers from: the generated (protobuf-es) descriptors of the served
 * services, of every file they import and of any extra files, each encoded as the
 * FileDescriptorProto protoc produced (its own file name and imports, snake_case field names), so
 * that any client can build them again. Files are indexed by name and by every fully-qualified name
 * they declare (messages, fields, oneofs, enums and their values, services, methods, extensions), as
 * grpc-go's registry resolves them.
 */
export class DescriptorIndex {
  /** Full names of the services served, as list_services answers. */
  readonly serviceNames: readonly string[];
  private readonly files = new Map<string, DescFile>();
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly messages = new Set<string>();
  /** Extended message → extension field number → the file declaring the extension. */
  private readonly extensions = new Map<string, Map<number, DescFile>>();

  constructor(services: readonly DescService[], extraFiles: readonly DescFile[] = []) {
    this.serviceNames = [...new Set(services.map((s) => s.typeName))];
    for (const file of [...services.map((s) => s.file), ...extraFiles]) this.add(file);
  }

  /** The file of that name, then the files it imports. */
  fileByName(name: string): Uint8Array[] | undefined {
    const file = this.files.get(name);
    return file && this.withDependencies(file);
  }

  /** The file declaring that fully-qualified name, then the files it imports. */
  fileContainingSymbol(symbol: string): Uint8Array[] | undefined {
    const file = this.symbols.get(symbol);
    return file && this.withDependencies(file);
  }

  /** The file declaring extension `number` of message `extendee`, then the files it imports. */
  fileContainingExtension(extendee: string, number: number): Uint8Array[] | undefined {
    const file = this.extensions.get(extendee)?.get(number);
    return file && this.withDependencies(file);
  }

  /** The field numbers of the known extensions of a message, in order; undefined if there is no such message. */
  extensionNumbers(message: string): number[] | undefined {
    if (!this.messages.has(message)) return undefined;
    return [...(this.extensions.get(message)?.keys() ?? [])].sort((a, b) => a - b);
  }

  private add(file: DescFile): void {
    const proto = file.proto;
    // Two copies of one file (say, two installs of @bufbuild/protobuf): the first one is served.
    if (this.files.has(proto.name)) return;
    this.files.set(proto.name, file);
    this.encoded.set(proto.name, toBinary(FileDescriptorProtoSchema, proto));
    for (const dependency of file.dependencies) this.add(dependency);

    const scope = proto.package;
    for (const message of proto.messageType) this.addMessage(file, scope, message);
    for (const e of proto.enumType) this.addEnum(file, scope, e);
    for (const extension of proto.extension) this.addExtension(file, scope, extension);
    for (const service of proto.service) {
      const name = qualified(scope, service.name);
      this.addSymbol(file, name);
      for (const method of service.method) this.addSymbol(file, `${name}.${method.name}`);
    }
  }

  private addMessage(file: DescFile, scope: string, message: DescriptorProto): void {
    const name = qualified(scope, message.name);
    this.addSymbol(file, name);
    this.messages.add(name);
    for (const field of message.field) this.addSymbol(file, `${name}.${field.name}`);
    for (const oneof of message.oneofDecl) this.addSymbol(file, `${name}.${oneof.name}`);
    for (const nested of message.nestedType) this.addMessage(file, name, nested);
    for (const e of message.enumType) this.addEnum(file, name, e);
    for (const extension of message.extension) this.addExtension(file, name, extension);
  }

  private addEnum(file: DescFile, scope: string, e: EnumDescriptorProto): void {
    this.addSymbol(file, qualified(scope, e.name));
    // Enum values are siblings of their enum in protobuf's naming (C++ scoping rules).
    for (const value of e.value) this.addSymbol(file, qualified(scope, value.name));
  }

  private addExtension(file: DescFile, scope: string, extension: FieldDescriptorProto): void {
    this.addSymbol(file, qualified(scope, extension.name));
    // In a built descriptor the extendee is fully qualified, with a leading dot.
    const extendee = extension.extendee.replace(/^\./, "");
    let numbers = this.extensions.get(extendee);
    if (!numbers) this.extensions.set(extendee, (numbers = new Map()));
    if (!numbers.has(extension.number)) numbers.set(extension.number, file);
  }

  private addSymbol(file: DescFile, name: string): void {
    if (!this.symbols.has(name)) this.symbols.set(name, file);
  }

  /**
   * The file first, then everything it imports, directly or not, each once: a client can build the
   * answer to any one request without asking for more (grpc-go leaves out the imports it already
   * sent on the stream; sending them again is allowed and keeps every answer self-contained).
   */
  private withDependencies(file: DescFile): Uint8Array[] {
    const names = [file.proto.name];
    const seen = new Set(names);
    for (let i = 0; i < names.length; i++) {
      for (const dependency of this.files.get(names[i]!)!.dependencies) {
        const name = dependency.proto.name;
        if (!seen.has(name)) {
          seen.add(name);
          names.push(name);
        }
      }
    }
    return names.map((name) => this.encoded.get(name)!);
  }
}

function qualified(scope: string, name: string): string {
  return scope ? `${scope}.${name}` : name;
}
