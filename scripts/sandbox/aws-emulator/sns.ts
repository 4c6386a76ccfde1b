/**
 * Emulated SNS Publish to a topic.
 *
 * The installed @aws-sdk/client-sns speaks the awsQuery protocol: a
 * form-encoded `POST /` with `Action=Publish&Version=2010-03-31`, message
 * attributes flattened as `MessageAttributes.entry.N.Name` /
 * `.Value.DataType` / `.Value.StringValue` / `.Value.BinaryValue` (base64);
 * answers are XML in the `http://sns.amazonaws.com/doc/2010-03-31/`
 * namespace, errors an `<ErrorResponse>` whose `Code` the SDK maps to its
 * exception class (`NotFound` → NotFoundException, `InvalidParameter` →
 * InvalidParameterException).
 *
 * Stricter than lenient, as the SNS API reference (API_Publish,
 * API_MessageAttributeValue) and developer guide (sns-message-attributes)
 * document it:
 * - the topic must exist, in the Region the request is signed for;
 * - Message is required, non-empty, and the message plus every attribute's
 *   name, type and value is at most 256 KiB (262,144 bytes) of UTF-8;
 * - Subject: printable ASCII beginning with a letter, number or punctuation
 *   mark, no line breaks or control characters, fewer than 100 characters
 *   (the older, stricter wording of the same constraint);
 * - at most 10 message attributes; names of A–Z a–z 0–9 _ - . , not
 *   starting or ending with a period, no successive periods, at most 256
 *   characters, no `AWS.` / `Amazon.` prefix; DataType String, String.Array,
 *   Number or Binary (optionally `.<custom>`); String and Number need a
 *   non-empty StringValue, Binary a BinaryValue; a Number has at most 38
 *   significant digits between 10^-128 and 10^+126; a String.Array is a JSON
 *   array of strings, numbers, true, false or null.
 */
import { randomUUID } from "node:crypto";
import { AwsApiError } from "./common";

export const SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/";
export const SNS_MAX_MESSAGE_BYTES = 262_144;

export interface SnsMessageAttribute {
  DataType: string;
  StringValue?: string;
  /** Decoded from the request's base64. */
  BinaryValue?: Buffer;
}

export interface PublishedMessage {
  topicArn: string;
  region: string;
  subject?: string;
  message: string;
  messageAttributes: Record<string, SnsMessageAttribute>;
  messageId: string;
  /** The emulator clock when SNS accepted it. */
  at: Date;
}

const invalid = (m: string) => new AwsApiError("InvalidParameter", `Invalid parameter: ${m}`, 400);

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** Subject: printable ASCII, first character a letter, digit or punctuation, < 100 characters. */
export function subjectProblem(subject: string): string | undefined {
  if (subject.length === 0) return "Subject must not be empty";
  if (subject.length >= 100) return "Subject must be less than 100 characters long";
  if (/[\r\n]/.test(subject)) return "Subject must not contain line breaks";
  if (!/^[\x20-\x7e]*$/.test(subject))
    return "Subject must be ASCII text without control characters";
  if (!/^[A-Za-z0-9!-/:-@[-`{-~]/.test(subject))
    return "Subject must begin with a letter, number or punctuation mark";
  return undefined;
}

function numberProblem(value: string): string | undefined {
  const m = /^[+-]?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(value.trim());
  if (!m || value.trim() !== value) return "is not a number";
  const digits = `${m[1]}${m[2] ?? ""}`.replace(/^0+/, "");
  const significant = digits.replace(/0+$/, "");
  if (significant.length > 38) return "has more than 38 digits of precision";
  const n = Number(value);
  if (n !== 0 && (Math.abs(n) < 1e-128 || Math.abs(n) > 1e126))
    return "is outside 10^-128 to 10^+126";
  return undefined;
}

function stringArrayProblem(value: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return "is not a JSON array";
  }
  if (!Array.isArray(parsed)) return "is not a JSON array";
  for (const item of parsed) {
    if (item !== null && !["string", "number", "boolean"].includes(typeof item))
      return "may hold only strings, numbers, true, false and null";
  }
  return undefined;
}

export class SnsBackend {
  /** `arn` → Region. */
  private readonly topicRegions = new Map<string, string>();
  readonly published: PublishedMessage[] = [];

  constructor(private readonly accountId: string) {}

  createTopic(name: string, region: string): string {
    // Topic names: 1–256 of A–Z a–z 0–9 - _ (a FIFO topic ends in .fifo; not emulated).
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(name))
      throw new Error(`createTopic: ${JSON.stringify(name)} is not a valid SNS topic name`);
    const arn = `arn:aws:sns:${region}:${this.accountId}:${name}`;
    this.topicRegions.set(arn, region);
    return arn;
  }

  topics(): string[] {
    return [...this.topicRegions.keys()];
  }

  publish(region: string, now: Date, form: URLSearchParams): string {
    if (form.get("TargetArn") !== null || form.get("PhoneNumber") !== null)
      throw invalid("TargetArn and PhoneNumber are not emulated: publish to a topic");
    for (const fifo of ["MessageGroupId", "MessageDeduplicationId"]) {
      if (form.get(fifo) !== null)
        throw invalid(
          `${fifo}: The request includes ${fifo} parameter that is not valid for this topic type`,
        );
    }
    const topicArn = form.get("TopicArn");
    if (topicArn === null || topicArn === "")
      throw invalid("TopicArn or TargetArn Reason: no value for required parameter");
    const arn = /^arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$/.exec(topicArn);
    if (!arn) throw invalid("TopicArn");
    // "You can publish messages only to topics and endpoints in the same AWS Region."
    if (arn[1] !== region) throw invalid("TopicArn");
    if (!this.topicRegions.has(topicArn))
      throw new AwsApiError("NotFound", "Topic does not exist", 404);

    const message = form.get("Message");
    if (message === null || message.length === 0) throw invalid("Empty message");
    if (form.get("MessageStructure") !== null)
      throw invalid("MessageStructure is not emulated: send a plain string Message");

    const subject = form.get("Subject");
    if (subject !== null) {
      const problem = subjectProblem(subject);
      if (problem) throw invalid(`Subject Reason: ${problem}`);
    }

    const attributes = this.attributes(form);
    let size = utf8(message);
    for (const [name, a] of Object.entries(attributes)) {
      size += utf8(name) + utf8(a.DataType);
      size += a.StringValue !== undefined ? utf8(a.StringValue) : (a.BinaryValue?.length ?? 0);
    }
    if (size > SNS_MAX_MESSAGE_BYTES)
      throw invalid(
        `Message too long: ${size} bytes with its attributes, the limit is ${SNS_MAX_MESSAGE_BYTES}`,
      );

    const messageId = randomUUID();
    this.published.push({
      topicArn,
      region,
      ...(subject !== null ? { subject } : {}),
      message,
      messageAttributes: attributes,
      messageId,
      at: now,
    });
    return messageId;
  }

  private attributes(form: URLSearchParams): Record<string, SnsMessageAttribute> {
    const entries = new Map<number, Record<string, string>>();
    for (const [key, value] of form) {
      if (!key.startsWith("MessageAttributes.")) continue;
      const m =
        /^MessageAttributes\.entry\.(\d+)\.(Name|Value\.DataType|Value\.StringValue|Value\.BinaryValue)$/.exec(
          key,
        );
      if (!m) throw invalid(`MessageAttributes: unexpected parameter ${key}`);
      const n = Number(m[1]);
      const entry = entries.get(n) ?? {};
      entry[m[2] as string] = value;
      entries.set(n, entry);
    }
    if (entries.size > 10)
      throw invalid(
        `MessageAttributes Reason: Number of message attributes [${entries.size}] exceeds the allowed maximum [10].`,
      );
    const out: Record<string, SnsMessageAttribute> = {};
    for (const [, e] of [...entries].sort((a, b) => a[0] - b[0])) {
      const name = e.Name;
      const bad = (why: string) =>
        invalid(`MessageAttributes Reason: Message attribute '${name ?? ""}' ${why}`);
      if (name === undefined || name === "") throw bad("has no name");
      if (
        name.length > 256 ||
        !/^[A-Za-z0-9_.-]+$/.test(name) ||
        name.startsWith(".") ||
        name.endsWith(".") ||
        name.includes("..") ||
        /^(aws|amazon)\./i.test(name)
      )
        throw bad("has an invalid name");
      if (out[name] !== undefined) throw bad("is given more than once");
      const type = e["Value.DataType"];
      if (type === undefined || type === "") throw bad("must have a DataType");
      const base = /^(String\.Array|String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$/.exec(type);
      if (!base || type.length > 256 || (base[1] === "String.Array" && base[2]))
        throw bad(
          `has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String`,
        );
      const kind = base[1] as string;
      const stringValue = e["Value.StringValue"];
      const binaryValue = e["Value.BinaryValue"];
      if (kind === "Binary") {
        if (stringValue !== undefined) throw bad("of type Binary must not have a StringValue");
        if (binaryValue === undefined || binaryValue === "")
          throw bad("must contain a non-empty BinaryValue");
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(binaryValue) || binaryValue.length % 4 !== 0)
          throw bad("has a BinaryValue that is not base64");
        out[name] = { DataType: type, BinaryValue: Buffer.from(binaryValue, "base64") };
        continue;
      }
      if (binaryValue !== undefined) throw bad(`of type ${kind} must not have a BinaryValue`);
      if (stringValue === undefined || stringValue === "")
        throw bad("must contain a non-empty message attribute value");
      const problem =
        kind === "Number"
          ? numberProblem(stringValue)
          : kind === "String.Array"
            ? stringArrayProblem(stringValue)
            : undefined;
      if (problem) throw bad(`value ${problem}`);
      out[name] = { DataType: type, StringValue: stringValue };
    }
    return out;
  }
}
