/**
 * The KMS reads `doctor` makes: DescribeKey (enabled, state, usage) and
 * GetKeyRotationStatus. Read-only; the key custody adapter (kms.ts) does the
 * key work.
 */
import {
  DescribeKeyCommand,
  GetKeyRotationStatusCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import type { KmsReadPort } from "../doctor";

export class KmsReader implements KmsReadPort {
  constructor(private readonly client: KMSClient) {}

  async describeKey(keyId: string) {
    const res = await this.client.send(new DescribeKeyCommand({ KeyId: keyId }));
    const m = res.KeyMetadata;
    if (!m?.Arn) throw new Error(`DescribeKey returned no metadata for ${keyId}`);
    return {
      arn: m.Arn,
      enabled: m.Enabled === true,
      state: m.KeyState ?? "unknown",
      usage: m.KeyUsage,
    };
  }

  async rotationEnabled(keyArn: string): Promise<boolean> {
    const res = await this.client.send(new GetKeyRotationStatusCommand({ KeyId: keyArn }));
    return res.KeyRotationEnabled === true;
  }
}
