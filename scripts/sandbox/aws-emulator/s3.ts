/**
 * Emulated Amazon S3: PutObject, GetObject, ListObjectsV2, DeleteObject and
 * GetBucketPolicy, as @aws-sdk/client-s3 sends them with `forcePathStyle`
 * against the emulator's endpoint (`/<bucket>/<key>`, REST-XML), plus an
 * in-process API for what other emulated services write (SES receiving's S3
 * action, receivers' DMARC reports) and for the sandbox's provisioning
 * (buckets are made as the Pulumi program would, not over the wire).
 *
 * Strict per the S3 API reference (docs/design.md#emulated-s3):
 * - errors are an `<Error>` document whose `Code` the SDK maps to its
 *   exception class: `NoSuchBucket` (404), `NoSuchKey` (404),
 *   `InvalidArgument` (400, bad max-keys or continuation token),
 *   `KeyTooLongError` (400, key over 1024 bytes of UTF-8), `BadDigest`
 *   (Content-MD5 or x-amz-content-sha256 not matching the body),
 *   `NoSuchBucketPolicy`;
 * - ListObjectsV2 returns keys in UTF-8 binary order, at most 1000 per page
 *   (a larger max-keys is capped), `KeyCount`, `IsTruncated` and an opaque
 *   `NextContinuationToken` only when truncated; `start-after`, `prefix`,
 *   `delimiter` (`CommonPrefixes`) and `encoding-type=url`;
 * - DeleteObject answers 204 whether or not the key existed (unversioned).
 * - a bucket with default SSE-KMS encryption stores every object with
 *   `aws:kms` and the bucket's key ARN, and answers the
 *   `x-amz-server-side-encryption*` headers.
 *
 * The bucket policy is recorded as JSON and evaluated only for the one
 * question the emulator asks it: may SES (`ses.amazonaws.com`) put an object
 * at this key for this account and receipt rule (`sesMayPut`).
 */
import { createHash, randomUUID } from "node:crypto";
import { crc32 } from "node:zlib";
import {
  policyAdmitsPut,
  type S3Writer,
} from "../../../actions/dkim-rotation/src/engine/canary-config";
import { AwsApiError } from "./common";
import { xmlText } from "./route53";

export const S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";
/** ListObjectsV2 returns at most 1000 keys per page, whatever max-keys asks. */
export const S3_MAX_KEYS = 1000;
const MAX_KEY_BYTES = 1024;

export interface S3BucketSpec {
  name: string;
  region: string;
  /** The bucket policy document (JSON text), as PutBucketPolicy would store it. */
  policy?: string;
  /** Default encryption: SSE-KMS under this key ARN. Absent: SSE-S3 (AES256), S3's default. */
  kmsKeyArn?: string;
  /** Lifecycle expiration of current objects, in days (recorded; expiry runs in `processDue`). */
  expirationDays?: number;
}

export interface S3ObjectView {
  bucket: string;
  key: string;
  body: Buffer;
  etag: string;
  lastModified: Date;
  contentType: string;
  serverSideEncryption: "aws:kms" | "AES256";
  kmsKeyArn?: string;
  /** Who wrote it: `ses.amazonaws.com` for SES receiving, `sdk` for a client call, or a name. */
  writer: string;
}

/** Who asks to put an object, for the bucket-policy check. */
export type { S3Writer };

interface Bucket extends S3BucketSpec {
  objects: Map<string, S3ObjectView>;
}

export interface S3Request {
  method: string;
  /** The URL path, still percent-encoded. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  now: Date;
  region: string;
}

export interface S3Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
  /** The operation name, for the call log. */
  operation: string;
}

/** An S3 error: the code, the message and the extra elements S3 puts in `<Error>`. */
export class S3Error extends AwsApiError {
  constructor(
    code: string,
    message: string,
    status: number,
    readonly extra: Record<string, string> = {},
  ) {
    super(code, message, status);
  }
}

/** The `<Error>` document S3 answers. */
export function s3ErrorXml(err: AwsApiError, requestId: string): string {
  const extra = err instanceof S3Error ? err.extra : {};
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${xmlText(v)}</${k}>`)
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${xmlText(err.message)}</Message>${fields}<RequestId>${requestId}</RequestId></Error>`;
}

const noSuchBucket = (name: string) =>
  new S3Error("NoSuchBucket", "The specified bucket does not exist", 404, { BucketName: name });

const compareUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function header(headers: S3Request["headers"], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Decode an `aws-chunked` body (the SDK's flexible-checksum streaming form:
 * `<hex size>[;chunk-signature=…]\r\n<data>\r\n … 0\r\n<trailers>\r\n\r\n`).
 */
function decodeAwsChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf("\r\n", at);
    if (eol < 0)
      throw new S3Error("IncompleteBody", "The request body terminated unexpectedly", 400);
    const size = parseInt(raw.subarray(at, eol).toString("latin1").split(";")[0]!, 16);
    if (!Number.isFinite(size))
      throw new S3Error("InvalidRequest", "Malformed aws-chunked encoding", 400);
    at = eol + 2;
    if (size === 0) return Buffer.concat(parts);
    if (at + size > raw.length)
      throw new S3Error("IncompleteBody", "The request body terminated unexpectedly", 400);
    parts.push(raw.subarray(at, at + size));
    at += size + 2;
  }
}

/** S3 decides a service principal's write by the bucket policy (docs/design.md#emulated-s3). */
export const sesMayPut = policyAdmitsPut;

export class S3Backend {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly accountId: string) {}

  /** Make a bucket as the stack's Pulumi program would (names are global, as in S3). */
  createBucket(spec: S3BucketSpec): void {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(spec.name))
      throw new S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, {
        BucketName: spec.name,
      });
    if (this.buckets.has(spec.name))
      throw new S3Error(
        "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and you already own it.",
        409,
        { BucketName: spec.name },
      );
    this.buckets.set(spec.name, { ...spec, objects: new Map() });
  }

  /** Replace a bucket's policy (PutBucketPolicy); undefined deletes it. */
  setPolicy(bucket: string, policy: string | undefined): void {
    this.bucket(bucket).policy = policy;
  }

  bucketSpec(name: string): S3BucketSpec | undefined {
    const b = this.buckets.get(name);
    if (!b) return undefined;
    const { objects: _objects, ...spec } = b;
    return { ...spec };
  }

  /**
   * Store an object (in process). With `writer`, the bucket policy must admit
   * it, as S3 decides for a service principal; refused: AccessDenied.
   */
  putObject(
    bucket: string,
    key: string,
    body: Buffer | string,
    opts: { now: Date; writer?: S3Writer; contentType?: string; by?: string },
  ): S3ObjectView {
    const b = this.bucket(bucket);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES || key.length === 0)
      throw new S3Error("KeyTooLongError", "Your key is too long", 400, { Key: key });
    if (opts.writer && !sesMayPut(b.policy, bucket, key, opts.writer))
      throw new S3Error("AccessDenied", "Access Denied", 403);
    const data = Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(body, "utf8");
    const view: S3ObjectView = {
      bucket,
      key,
      body: data,
      etag: `"${createHash("md5").update(data).digest("hex")}"`,
      lastModified: new Date(Math.floor(opts.now.getTime() / 1000) * 1000),
      contentType: opts.contentType ?? "binary/octet-stream",
      serverSideEncryption: b.kmsKeyArn ? "aws:kms" : "AES256",
      ...(b.kmsKeyArn ? { kmsKeyArn: b.kmsKeyArn } : {}),
      writer: opts.writer?.service ?? opts.by ?? "sdk",
    };
    b.objects.set(key, view);
    return view;
  }

  getObject(bucket: string, key: string): S3ObjectView | undefined {
    return this.bucket(bucket).objects.get(key);
  }

  deleteObject(bucket: string, key: string): boolean {
    return this.bucket(bucket).objects.delete(key);
  }

  /** Every object in `bucket` under `prefix`, in key order. */
  objects(bucket: string, prefix = ""): S3ObjectView[] {
    return [...this.bucket(bucket).objects.values()]
      .filter((o) => o.key.startsWith(prefix))
      .sort((a, b) => compareUtf8(a.key, b.key));
  }

  /** Lifecycle expiration: objects older than the bucket's expirationDays go. */
  processDue(now: Date): void {
    for (const b of this.buckets.values()) {
      if (!b.expirationDays) continue;
      const cutoff = now.getTime() - b.expirationDays * 86_400_000;
      for (const [k, o] of b.objects) if (o.lastModified.getTime() < cutoff) b.objects.delete(k);
    }
  }

  private bucket(name: string): Bucket {
    const b = this.buckets.get(name);
    if (!b) throw noSuchBucket(name);
    return b;
  }

  /** One request as the SDK sends it (path-style). */
  handle(req: S3Request): S3Response {
    const m = /^\/([^/]+)(?:\/(.*))?$/.exec(req.path);
    if (!m) throw new S3Error("MethodNotAllowed", "ListBuckets is not emulated", 405);
    const bucketName = decodeURIComponent(m[1]!);
    const rawKey = m[2];
    const key = rawKey === undefined || rawKey === "" ? undefined : decodeURIComponent(rawKey);
    const b = this.bucket(bucketName);
    if (b.region !== req.region)
      throw new S3Error(
        "AuthorizationHeaderMalformed",
        `The authorization header is malformed; the region '${req.region}' is wrong; expecting '${b.region}'`,
        400,
        { Region: b.region },
      );
    if (key === undefined) {
      if (req.method === "GET" && req.query.has("policy")) {
        if (!b.policy)
          throw new S3Error("NoSuchBucketPolicy", "The bucket policy does not exist", 404, {
            BucketName: bucketName,
          });
        return {
          status: 200,
          headers: { "content-type": "application/json" },
          body: b.policy,
          operation: "GetBucketPolicy",
        };
      }
      if (req.method === "GET" && req.query.get("list-type") === "2")
        return this.listObjectsV2(b, req.query);
      throw new S3Error(
        "NotImplemented",
        `${req.method} on a bucket with ${[...req.query.keys()].join(", ") || "no subresource"} is not emulated`,
        501,
      );
    }
    switch (req.method) {
      case "PUT":
        return this.wirePut(b, key, req);
      case "GET": {
        const o = b.objects.get(key);
        if (!o)
          throw new S3Error("NoSuchKey", "The specified key does not exist.", 404, { Key: key });
        return {
          status: 200,
          headers: { ...this.objectHeaders(o), "content-length": String(o.body.length) },
          body: o.body,
          operation: "GetObject",
        };
      }
      case "DELETE":
        b.objects.delete(key);
        return { status: 204, headers: {}, body: "", operation: "DeleteObject" };
    }
    throw new S3Error("MethodNotAllowed", `${req.method} on an object is not emulated`, 405);
  }

  private objectHeaders(o: S3ObjectView): Record<string, string> {
    return {
      etag: o.etag,
      "last-modified": o.lastModified.toUTCString(),
      "content-type": o.contentType,
      "x-amz-server-side-encryption": o.serverSideEncryption,
      ...(o.kmsKeyArn ? { "x-amz-server-side-encryption-aws-kms-key-id": o.kmsKeyArn } : {}),
    };
  }

  private wirePut(b: Bucket, key: string, req: S3Request): S3Response {
    if (req.headers["x-amz-copy-source"] !== undefined)
      throw new S3Error("NotImplemented", "CopyObject is not emulated", 501);
    const sha = header(req.headers, "x-amz-content-sha256");
    if (!sha)
      throw new S3Error(
        "InvalidRequest",
        "Missing required header for this request: x-amz-content-sha256",
        400,
      );
    const encoding = header(req.headers, "content-encoding") ?? "";
    const chunked =
      sha.startsWith("STREAMING-") ||
      encoding
        .split(",")
        .map((s) => s.trim())
        .includes("aws-chunked");
    const body = chunked ? decodeAwsChunked(req.body) : req.body;
    const decoded = header(req.headers, "x-amz-decoded-content-length");
    if (chunked && decoded !== undefined && Number(decoded) !== body.length)
      throw new S3Error(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
        400,
      );
    if (/^[0-9a-f]{64}$/.test(sha) && createHash("sha256").update(body).digest("hex") !== sha)
      throw new S3Error(
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        400,
      );
    const md5 = header(req.headers, "content-md5");
    if (md5 !== undefined && createHash("md5").update(body).digest("base64") !== md5)
      throw new S3Error(
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
        400,
      );
    const crc = header(req.headers, "x-amz-checksum-crc32");
    if (crc !== undefined && !chunked) {
      const mine = Buffer.alloc(4);
      mine.writeUInt32BE(crc32(body) >>> 0);
      if (mine.toString("base64") !== crc)
        throw new S3Error(
          "BadDigest",
          "The CRC32 you specified did not match the calculated checksum.",
          400,
        );
    }
    const sse = header(req.headers, "x-amz-server-side-encryption");
    if (sse !== undefined && sse !== "AES256" && sse !== "aws:kms" && sse !== "aws:kms:dsse")
      throw new S3Error(
        "InvalidArgument",
        "The encryption method specified is not supported",
        400,
        {
          ArgumentName: "x-amz-server-side-encryption",
          ArgumentValue: sse,
        },
      );
    const o = this.putObject(b.name, key, body, {
      now: req.now,
      contentType: header(req.headers, "content-type") ?? "binary/octet-stream",
    });
    return { status: 200, headers: this.objectHeaders(o), body: "", operation: "PutObject" };
  }

  private listObjectsV2(b: Bucket, q: URLSearchParams): S3Response {
    const prefix = q.get("prefix") ?? "";
    const delimiter = q.get("delimiter") ?? "";
    const startAfter = q.get("start-after") ?? "";
    const encodingType = q.get("encoding-type");
    if (encodingType !== null && encodingType !== "url")
      throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", 400, {
        ArgumentName: "encoding-type",
        ArgumentValue: encodingType,
      });
    const maxRaw = q.get("max-keys");
    let maxKeys = S3_MAX_KEYS;
    if (maxRaw !== null) {
      if (!/^\d+$/.test(maxRaw) || Number(maxRaw) > 2147483647)
        throw new S3Error(
          "InvalidArgument",
          "Provided max-keys not an integer or within integer range",
          400,
          {
            ArgumentName: "max-keys",
            ArgumentValue: maxRaw,
          },
        );
      maxKeys = Math.min(Number(maxRaw), S3_MAX_KEYS);
    }
    const token = q.get("continuation-token");
    let after = startAfter;
    if (token !== null) {
      const decoded = this.decodeToken(token, b.name);
      if (decoded === undefined)
        throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", 400, {
          ArgumentName: "continuation-token",
        });
      after = decoded;
    }
    const enc = (s: string) =>
      xmlText(encodingType === "url" ? encodeURIComponent(s).replace(/%2F/g, "/") : s);
    const contents: S3ObjectView[] = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last = "";
    for (const o of this.objects(b.name, prefix)) {
      if (after && compareUtf8(o.key, after) <= 0) continue;
      let rolled: string | undefined;
      if (delimiter) {
        const at = o.key.indexOf(delimiter, prefix.length);
        if (at >= 0) rolled = o.key.slice(0, at + delimiter.length);
      }
      if (rolled !== undefined && prefixes.at(-1) === rolled) {
        last = o.key;
        continue;
      }
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = maxKeys > 0;
        break;
      }
      if (rolled !== undefined) prefixes.push(rolled);
      else contents.push(o);
      last = o.key;
    }
    const parts = [
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${S3_XMLNS}">`,
      `<Name>${xmlText(b.name)}</Name><Prefix>${enc(prefix)}</Prefix>`,
      ...(startAfter ? [`<StartAfter>${enc(startAfter)}</StartAfter>`] : []),
      ...(token !== null ? [`<ContinuationToken>${xmlText(token)}</ContinuationToken>`] : []),
      ...(truncated
        ? [`<NextContinuationToken>${this.encodeToken(last, b.name)}</NextContinuationToken>`]
        : []),
      `<KeyCount>${contents.length + prefixes.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>`,
      ...(delimiter ? [`<Delimiter>${enc(delimiter)}</Delimiter>`] : []),
      ...(encodingType ? [`<EncodingType>url</EncodingType>`] : []),
      `<IsTruncated>${truncated}</IsTruncated>`,
      ...contents.map(
        (o) =>
          `<Contents><Key>${enc(o.key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlText(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      ),
      ...prefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`),
      `</ListBucketResult>`,
    ];
    return {
      status: 200,
      headers: { "content-type": "application/xml" },
      body: parts.join(""),
      operation: "ListObjectsV2",
    };
  }

  // Opaque to clients, as S3's are; bound to the bucket so one cannot be replayed elsewhere.
  private encodeToken(lastKey: string, bucket: string): string {
    return Buffer.from(
      JSON.stringify({ b: bucket, k: lastKey, n: randomUUID().slice(0, 8) }),
    ).toString("base64");
  }

  private decodeToken(token: string, bucket: string): string | undefined {
    try {
      const v = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as {
        b?: unknown;
        k?: unknown;
      };
      return v.b === bucket && typeof v.k === "string" ? v.k : undefined;
    } catch {
      return undefined;
    }
  }

  get account(): string {
    return this.accountId;
  }
}
