/**
 * DMARC aggregate reports as SES's receipt rule stores them: one S3 object
 * per received message under `dmarcReports.prefix`
 * (docs/design.md#dmarc-aggregate-reports). A processed report gets an empty
 * marker object under `<prefix>processed/`, so a re-run skips it and the
 * report itself stays until the bucket's lifecycle rule expires it.
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { DmarcReportSourcePort, ReportObject } from "../engine/dmarc";
import { ReportRejected } from "../engine/dmarc-report";

/** The object SES writes when a rule's S3 action is created (SES developer guide, "Deliver to S3 bucket action"). */
export const SES_SETUP_NOTIFICATION = "AMAZON_SES_SETUP_NOTIFICATION";

export class S3DmarcReports implements DmarcReportSourcePort {
  readonly where: string;
  private readonly processed: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    this.where = `s3://${bucket}/${prefix}`;
    this.processed = `${prefix}processed/`;
  }

  async list(): Promise<ReportObject[]> {
    const all: ReportObject[] = [];
    const done = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith("/")) continue;
        if (o.Key.startsWith(this.processed)) done.add(o.Key.slice(this.processed.length));
        else if (!o.Key.endsWith(SES_SETUP_NOTIFICATION))
          all.push({ key: o.Key, size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return all.filter((o) => !done.has(o.key.slice(this.prefix.length)));
  }

  async read(key: string, maxBytes: number): Promise<Uint8Array> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if ((out.ContentLength ?? 0) > maxBytes)
      throw new ReportRejected(
        `object is ${out.ContentLength} bytes, above maxReportBytes ${maxBytes}`,
      );
    const bytes = await out.Body!.transformToByteArray();
    if (bytes.length > maxBytes)
      throw new ReportRejected(`object is ${bytes.length} bytes, above maxReportBytes ${maxBytes}`);
    return bytes;
  }

  async markProcessed(key: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${this.processed}${key.slice(this.prefix.length)}`,
        // An empty marker; without the length the SDK warns of a stream of unknown length.
        Body: new Uint8Array(0),
        ContentLength: 0,
      }),
    );
  }
}
