/**
 * The customer managed KMS key that encrypts the stored DKIM private keys.
 *
 * It wraps each 2048-bit DKIM private key itself (KMS
 * GenerateDataKeyPairWithoutPlaintext, bound to `{domain, selector}`), and
 * Secrets Manager encrypts each secret value under a data key it protects.
 * The key policy lets only the two pipeline roles use it: the planner may make
 * wrapped key pairs, only the activator may decrypt them (docs/design.md#invariant-4-key-material-stays-secret).
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
  /** The configured domains: the only `domain` a wrapped DKIM key may be bound to. */
  domains: string[];
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
        JSON.stringify(
          keyPolicy({ ...account, plannerRoleArn, activatorRoleArn, domains: args.domains }),
        ),
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
