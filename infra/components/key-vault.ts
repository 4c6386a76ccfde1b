/**
 * The customer managed KMS key that encrypts the stored DKIM private keys.
 *
 * Secrets Manager encrypts each secret value under a data key that this key
 * protects; the key policy lets only the two pipeline roles use it, and only
 * through Secrets Manager, so the private keys cannot be decrypted by any other
 * principal or path (docs/design.md#invariant-4-key-material-stays-secret).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { keyPolicy, type AccountScope } from "./policies";

export interface KeyVaultArgs {
  /** e.g. `alias/ses-dkim-rotation`; the pipeline passes it as `KmsKeyId`. */
  alias: string;
  account: pulumi.Input<AccountScope>;
  plannerRoleArn: pulumi.Input<string>;
  activatorRoleArn: pulumi.Input<string>;
  /** Secret names live under `<secretPrefix>/`; recorded on the key for auditors. */
  secretPrefix: string;
  /** Deleting the key makes every stored DKIM key unreadable: protect it. */
  protect: boolean;
  provider: aws.Provider;
}

export class KeyVault extends pulumi.ComponentResource {
  readonly key: aws.kms.Key;
  readonly alias: aws.kms.Alias;

  constructor(name: string, args: KeyVaultArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:KeyVault", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };

    const policy = pulumi
      .all([args.account, args.plannerRoleArn, args.activatorRoleArn])
      .apply(([account, plannerRoleArn, activatorRoleArn]) =>
        JSON.stringify(keyPolicy({ ...account, plannerRoleArn, activatorRoleArn })),
      );

    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Encrypts SES BYODKIM private keys stored as ${args.secretPrefix}/* secrets`,
        keyUsage: "ENCRYPT_DECRYPT",
        customerMasterKeySpec: "SYMMETRIC_DEFAULT",
        // Yearly automatic rotation of the key material; old material is kept,
        // so secrets written before a rotation still decrypt.
        enableKeyRotation: true,
        // The longest window AWS allows: a mistaken deletion can be cancelled.
        deletionWindowInDays: 30,
        policy,
      },
      { ...childOpts, protect: args.protect },
    );

    this.alias = new aws.kms.Alias(
      `${name}-alias`,
      { name: args.alias, targetKeyId: this.key.keyId },
      childOpts,
    );

    this.registerOutputs({ keyArn: this.key.arn, aliasName: this.alias.name });
  }
}
