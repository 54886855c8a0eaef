import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, type TLSSocket } from "node:tls";
import { request } from "node:https";
import * as grpc from "@grpc/grpc-js";
import { clientsAt, type RawClients } from "./grpc-client.js";

const run = promisify(execFile);

/** A certificate and its key, as PEM files. */
export interface Pem {
  cert: string;
  key: string;
}

/** Everything a TLS test needs, made by `openssl` in a temporary folder. */
export interface TestPki {
  dir: string;
  ca: Pem;
  otherCa: Pem;
  /** Signed by `ca`, for 127.0.0.1 and localhost. */
  server: Pem;
  /** Another one signed by `ca`, for a reload. */
  server2: Pem;
  /** Signed by `ca`, for client authentication. */
  client: Pem;
  /** Signed by `otherCa`. */
  otherClient: Pem;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

async function makeCa(dir: string, name: string): Promise<Pem> {
  const pem = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  await openssl(dir, [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", pem.key, "-out", pem.cert, "-days", "2", "-subj", `/CN=Herald test ${name}`],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  return pem;
}

async function makeLeaf(dir: string, name: string, ca: Pem, usage: "serverAuth" | "clientAuth"): Promise<Pem> {
  const pem = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    [
      "basicConstraints=CA:FALSE",
      `extendedKeyUsage=${usage}`,
      usage === "serverAuth" ? "subjectAltName=IP:127.0.0.1,DNS:localhost" : "",
    ].join("\n"),
  );
  await openssl(dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    pem.key,
    "-out",
    csr,
    "-subj",
    `/CN=${name}`,
  ]);
  await openssl(dir, [
    ...["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-out", pem.cert, "-days", "2"],
    ...["-set_serial", String(Math.floor(Math.random() * 1e12)), "-extfile", ext],
  ]);
  return pem;
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), "herald-tls-"));
  const [ca, otherCa] = await Promise.all([makeCa(dir, "ca"), makeCa(dir, "other-ca")]);
  const [server, server2, client, otherClient] = await Promise.all([
    makeLeaf(dir, "server", ca, "serverAuth"),
    makeLeaf(dir, "server2", ca, "serverAuth"),
    makeLeaf(dir, "client", ca, "clientAuth"),
    makeLeaf(dir, "other-client", otherCa, "clientAuth"),
  ]);
  return { dir, ca, otherCa, server, server2, client, otherClient };
}

/** What a client trusts, and the certificate it presents, if any. Contents, not paths. */
export interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** grpc-js clients over TLS, on a connection of their own (no channel shared with earlier clients). */
export function tlsClients(port: number, tls: ClientTls): RawClients {
  const creds = grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
  // SNI carries a name, never an IP address (RFC 6066): the certificate names localhost too.
  const options = { "grpc.use_local_subchannel_pool": 1, "grpc.ssl_target_name_override": "localhost" };
  return clientsAt(`127.0.0.1:${port}`, creds, options);
}

/** A new TLS connection's view of the server: the SHA-256 fingerprint of its certificate, and ALPN. */
export function peerOf(port: number, tls: ClientTls, alpn: string[]): Promise<{ fingerprint: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect(
      { host: "127.0.0.1", port, ca: tls.ca, ALPNProtocols: alpn, ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}) },
      () => {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        const negotiated = socket.alpnProtocol ?? false;
        socket.destroy();
        resolve({ fingerprint, alpn: negotiated });
      },
    );
    socket.once("error", reject);
  });
}

/** An HTTPS request on a connection of its own; resolves with the status and body, rejects on a refused handshake. */
export function httpsRequest(
  port: number,
  path: string,
  tls: ClientTls,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: init.method ?? "GET",
        headers: init.headers ?? {},
        agent: false,
        ca: tls.ca,
        ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/** Whether the openssl command is here (the test certificates are made with it). */
export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
