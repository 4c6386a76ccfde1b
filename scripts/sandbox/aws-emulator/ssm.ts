/**
 * Emulated SSM Parameter Store: just what `adopt` reads (GetParameter with
 * WithDecryption, JSON 1.1, `X-Amz-Target: AmazonSSM.GetParameter`) and what
 * a test uses to put a legacy key there (PutParameter).
 *
 * Stricter than lenient, as AWS documents it (SSM API reference):
 * - a missing name is `ParameterNotFound` (400);
 * - a SecureString read without `WithDecryption: true` returns the
 *   ciphertext, never the plaintext (here: an opaque base64 blob);
 * - names are 1–2048 characters; a name with a `/` must start with one;
 * - PutParameter without `Overwrite` on an existing name is
 *   `ParameterAlreadyExists`.
 */
import { createHash } from "node:crypto";
import { AwsApiError, epochSeconds } from "./common";

interface Parameter {
  name: string;
  type: "String" | "StringList" | "SecureString";
  value: string;
  version: number;
  lastModified: Date;
}

export class SsmBackend {
  private readonly params = new Map<string, Parameter>();

  private key(region: string, name: string): string {
    return `${region}\n${name}`;
  }

  private validName(name: unknown): string {
    if (typeof name !== "string" || name.length < 1 || name.length > 2048)
      throw new AwsApiError("ValidationException", "Parameter name must be 1-2048 characters", 400);
    if (name.includes("/") && !name.startsWith("/"))
      throw new AwsApiError(
        "ValidationException",
        'Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_',
        400,
      );
    return name;
  }

  putParameter(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const name = this.validName(body.Name);
    const type = body.Type ?? "String";
    if (type !== "String" && type !== "StringList" && type !== "SecureString")
      throw new AwsApiError("ValidationException", `Invalid parameter type ${String(type)}`, 400);
    if (typeof body.Value !== "string" || body.Value.length === 0)
      throw new AwsApiError("ValidationException", "Parameter value must not be empty", 400);
    const existing = this.params.get(this.key(region, name));
    if (existing && body.Overwrite !== true)
      throw new AwsApiError("ParameterAlreadyExists", "The parameter already exists.", 400);
    const version = (existing?.version ?? 0) + 1;
    this.params.set(this.key(region, name), {
      name,
      type,
      value: body.Value,
      version,
      lastModified: now,
    });
    return { Version: version, Tier: "Standard" };
  }

  getParameter(region: string, body: Record<string, unknown>): Record<string, unknown> {
    const name = this.validName(body.Name);
    const p = this.params.get(this.key(region, name));
    if (!p) throw new AwsApiError("ParameterNotFound", `Parameter ${name} not found.`, 400);
    const decrypt = body.WithDecryption === true;
    const value =
      p.type === "SecureString" && !decrypt
        ? createHash("sha256").update(`ciphertext:${p.value}`).digest("base64")
        : p.value;
    return {
      Parameter: {
        Name: p.name,
        Type: p.type,
        Value: value,
        Version: p.version,
        LastModifiedDate: epochSeconds(p.lastModified),
        ARN: `arn:aws:ssm:${region}:123456789012:parameter${p.name.startsWith("/") ? "" : "/"}${p.name}`,
        DataType: "text",
      },
    };
  }
}
