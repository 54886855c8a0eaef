import { readFile } from "node:fs/promises";
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from "node:https";
import * as grpc from "@grpc/grpc-js";
import { listenHttp, listenHttps, type HttpServer, type HttpServerLimits } from "../core/transport/http-server.js";
import { unreadable } from "./file-error.js";
import type { Logger } from "../core/logger.js";

/** The `tls` section: transport security of both ports, and of the facade's link to its core. Files only, never key material. */
export interface TlsConfig {
  /** PEM certificate (chain) served on both ports; with `keyFile`, turns TLS on. Re-read on SIGHUP. */
  certFile: string | undefined;
  /** PEM private key of `certFile` (not encrypted). Re-read on SIGHUP. */
  keyFile: string | undefined;
  /** PEM CA certificate(s): when set, clients on both ports must present a certificate it signed (mTLS). Re-read on SIGHUP. */
  clientCaFile: string | undefined;
  /** Facade mode with an https:// core URL: PEM CA certificate(s) the core's certificate is checked against (unset: the system's roots). */
  coreCaFile: string | undefined;
  /** Facade mode with an https:// core URL: PEM certificate the facade presents to a core that asks for one (mTLS), with `coreClientKeyFile`. Read at start. */
  coreClientCertFile: string | undefined;
  /** PEM private key of `coreClientCertFile` (not encrypted). Read at start. */
  coreClientKeyFile: string | undefined;
}

export const defaultTlsConfig: TlsConfig = {
  certFile: undefined,
  keyFile: undefined,
  clientCaFile: undefined,
  coreCaFile: undefined,
  coreClientCertFile: undefined,
  coreClientKeyFile: undefined,
};

/** A TLS file or setting Herald cannot use: its message names the flag and the file, and is all an operator needs. */
export class TlsConfigError extends Error {
  override readonly name = "TlsConfigError";
}

interface Material {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** SHA-256 fingerprint of the served certificate, as Node's `getPeerCertificate().fingerprint256` shows it. */
  fingerprint: string;
  validTo: string;
}

/**
 * The certificates of both ports, read from files at start and again on `reload()` (SIGHUP).
 * A reload swaps the secure context of each listening server: connections opened afterwards get
 * the new certificate, open ones (and their streams) keep the session they have. Files that do
 * not make a usable pair leave the previous certificates in place.
 */
export class ServerTls {
  /** Credentials to bind the gRPC port with. */
  readonly grpcCredentials: grpc.ServerCredentials;
  private readonly httpsServers = new Set<HttpsServer>();
  private reloading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly config: TlsConfig & { certFile: string; keyFile: string },
    private readonly logger: Logger,
    private material: Material,
  ) {
    // grpc-js 1.14: createSsl + updateSecureContextOptions; its certificate-provider credentials are broken (DESIGN.md).
    this.grpcCredentials = grpc.ServerCredentials.createSsl(
      material.ca ?? null,
      [{ private_key: material.key, cert_chain: material.cert }],
      material.ca !== undefined,
    );
  }

  /** The section's files, checked; `undefined` when TLS is off. Throws `TlsConfigError`. */
  static async load(config: TlsConfig, logger: Logger): Promise<ServerTls | undefined> {
    const { certFile, keyFile, clientCaFile } = config;
    if (!certFile && !keyFile) {
      if (clientCaFile) throw new TlsConfigError("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS with client certificates)");
      return undefined;
    }
    if (!certFile || !keyFile) throw new TlsConfigError("--tls-cert and --tls-key go together: give both files or neither");
    const material = await readMaterial({ certFile, keyFile, clientCaFile });
    logger.info(
      { cert: certFile, fingerprint: material.fingerprint, validTo: material.validTo, clientCa: clientCaFile },
      "tls certificates loaded",
    );
    return new ServerTls({ ...config, certFile, keyFile }, logger, material);
  }

  /** Whether clients must present a certificate signed by the client CA. */
  get requireClientCertificate(): boolean {
    return this.material.ca !== undefined;
  }

  /** Options of the HTTP port's server; register it with `watch` so that reloads reach it. */
  httpsOptions(): HttpsOptions {
    return { ...contextOptions(this.material), requestCert: this.requireClientCertificate, rejectUnauthorized: true };
  }

  watch(server: HttpsServer): void {
    this.httpsServers.add(server);
    server.once("close", () => this.httpsServers.delete(server));
  }

  /**
   * Reads the files again and swaps the certificates; on any error logs it and keeps the current
   * ones. Never rejects. Reloads run one at a time.
   */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      let next: Material;
      try {
        next = await readMaterial(this.config);
      } catch (err) {
        this.logger.error(
          { err: messageOf(err), fingerprint: this.material.fingerprint },
          "tls reload failed, keeping the previous certificates",
        );
        return;
      }
      const options = contextOptions(next);
      // grpc-js swaps the context of its HTTP/2 server through the credentials' watchers (a protected method).
      (this.grpcCredentials as unknown as { updateSecureContextOptions(o: SecureContextOptions): void }).updateSecureContextOptions(
        options,
      );
      for (const server of this.httpsServers) server.setSecureContext(options);
      this.material = next;
      this.logger.info({ cert: this.config.certFile, fingerprint: next.fingerprint, validTo: next.validTo }, "tls certificates reloaded");
    });
    return this.reloading;
  }
}

/** The HTTP port, over TLS when configured (its reloads reach it). */
export async function listenPort(
  handler: Parameters<typeof listenHttp>[0],
  host: string,
  port: number,
  tls: ServerTls | undefined,
  limits: HttpServerLimits,
): Promise<{ server: HttpServer; port: number }> {
  if (!tls) return listenHttp(handler, host, port, limits);
  const listening = await listenHttps(handler, host, port, tls.httpsOptions(), limits);
  tls.watch(listening.server);
  return listening;
}

export function tlsMode(tls: ServerTls | undefined): "off" | "tls" | "mtls" {
  return !tls ? "off" : tls.requireClientCertificate ? "mtls" : "tls";
}

export function reloadTls(tls: ServerTls | undefined, logger: Logger): Promise<void> {
  if (tls) return tls.reload();
  logger.info("SIGHUP: no TLS configured, nothing to reload");
  return Promise.resolve();
}

/** Trust for an https:// core URL in facade mode: the CA file's certificates, or the system's roots. */
export async function readCoreCa(config: TlsConfig, coreUrl: string): Promise<Buffer | undefined> {
  const https = coreUrl.startsWith("https://");
  if (!config.coreCaFile) return undefined;
  if (!https) throw new TlsConfigError(`--core-ca is for an https:// --core-url; got ${coreUrl}`);
  const ca = await readPem(config.coreCaFile, "--core-ca");
  checkCa(ca, "--core-ca", config.coreCaFile);
  return ca;
}

/**
 * The certificate an https:// core URL's facade presents to its core (a core with --tls-client-ca
 * refuses a facade without one); undefined when none is configured. Both files or neither, and a
 * matching pair: checked here so that a bad file refuses the start instead of failing every call.
 */
export async function readCoreClientCert(config: TlsConfig, coreUrl: string): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  const { coreClientCertFile: certFile, coreClientKeyFile: keyFile } = config;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    throw new TlsConfigError("--core-client-cert and --core-client-key go together: give both files or neither");
  }
  if (!coreUrl.startsWith("https://")) throw new TlsConfigError(`--core-client-cert is for an https:// --core-url; got ${coreUrl}`);
  const [cert, key] = await Promise.all([readPem(certFile, "--core-client-cert"), readPem(keyFile, "--core-client-key")]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new TlsConfigError(`--core-client-cert ${certFile}: not a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsConfigError(`--core-client-key ${keyFile}: not a PEM private key (encrypted keys are not supported)`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(`--core-client-key ${keyFile} is not the key of the certificate in --core-client-cert ${certFile}`);
  }
  return { cert, key };
}

function contextOptions(m: Material): SecureContextOptions {
  return m.ca === undefined ? { cert: m.cert, key: m.key } : { cert: m.cert, key: m.key, ca: m.ca };
}

async function readMaterial(config: { certFile: string; keyFile: string; clientCaFile: string | undefined }): Promise<Material> {
  const [cert, key, ca] = await Promise.all([
    readPem(config.certFile, "--tls-cert"),
    readPem(config.keyFile, "--tls-key"),
    config.clientCaFile ? readPem(config.clientCaFile, "--tls-client-ca") : undefined,
  ]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new TlsConfigError(`--tls-cert ${config.certFile}: not a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsConfigError(`--tls-key ${config.keyFile}: not a PEM private key (encrypted keys are not supported)`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(`--tls-key ${config.keyFile} is not the key of the certificate in --tls-cert ${config.certFile}`);
  }
  if (ca && config.clientCaFile) checkCa(ca, "--tls-client-ca", config.clientCaFile);
  const material: Material = { cert, key, ca, fingerprint: x509.fingerprint256, validTo: x509.validTo };
  try {
    // What the servers will build from it: whatever Node refuses is refused here, before any swap.
    createSecureContext(contextOptions(material));
  } catch (err) {
    throw new TlsConfigError(`--tls-cert ${config.certFile} / --tls-key ${config.keyFile}: ${messageOf(err)}`);
  }
  return material;
}

function checkCa(ca: Buffer, flag: string, file: string): void {
  try {
    new X509Certificate(ca);
  } catch {
    throw new TlsConfigError(`${flag} ${file}: not a PEM certificate`);
  }
}

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new TlsConfigError(`${flag} ${file}: ${unreadable(err)}`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
