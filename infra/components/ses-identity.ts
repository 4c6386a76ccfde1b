/**
 * One SES domain identity in one Region, plus its configuration set.
 *
 * DKIM is configured per Region (a BYODKIM key imported in one Region does not
 * exist in another), so a multi-Region identity is one `EmailIdentity` per
 * Region, each through that Region's provider.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { regionalName } from "./naming";

/**
 * The pipeline owns the DKIM signing attributes: it imports each key with
 * `PutEmailIdentityDkimSigningAttributes` after DNS is verified. Pulumi must
 * neither revert them on the next `pulumi up` (that would swap SES back to a
 * key whose record may already be retired) nor ever hold a private key in its
 * state, so the program never sets them and ignores any drift.
 */
export const PIPELINE_OWNED_PROPERTIES = ["dkimSigningAttributes"] as const;

/**
 * An imported identity keeps what it already has: its configuration set
 * (with its event destinations) and every attribute this project does not
 * own. Without these, the import's inputs would differ from the identity's
 * state, so `pulumi up` would refuse the import or, once imported, detach the
 * configuration set and strip tags.
 */
export const ADOPTED_KEPT_PROPERTIES = [
  "configurationSetName",
  "tags",
  "mailFromAttributes",
] as const;

export interface SesIdentityArgs {
  domain: string;
  region: string;
  /** The provider for `region`; every child is created through it. */
  provider: aws.Provider;
  /** Protect the identity from deletion (deleting it stops signing at once). */
  protect: boolean;
  /**
   * The identity already exists in SES: adopt it (Pulumi `import` option, by
   * domain) instead of creating it. Its current DKIM keys, configuration set
   * and other attributes stay in place (ADOPTED_KEPT_PROPERTIES).
   */
  adoptExisting?: boolean;
}

export class SesIdentity extends pulumi.ComponentResource {
  readonly identityArn: pulumi.Output<string>;
  readonly configurationSetName: pulumi.Output<string>;
  readonly region: string;
  readonly domain: string;

  constructor(name: string, args: SesIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:SesIdentity", name, {}, opts);
    this.domain = args.domain;
    this.region = args.region;
    const childOpts = { parent: this, provider: args.provider };

    if (args.adoptExisting) {
      // Adopt as it is: no new configuration set, nothing set that it already has.
      const identity = new aws.sesv2.EmailIdentity(
        `${name}-identity`,
        { emailIdentity: args.domain },
        {
          ...childOpts,
          ignoreChanges: [...PIPELINE_OWNED_PROPERTIES, ...ADOPTED_KEPT_PROPERTIES],
          protect: args.protect,
          import: args.domain,
        },
      );
      this.identityArn = identity.arn;
      // Its own set; "" when it has none (reputation metrics then need one, docs/infrastructure.md).
      this.configurationSetName = identity.configurationSetName.apply((n) => n ?? "");
    } else {
      // Reputation metrics (bounce and complaint rate) are only tracked for mail
      // sent through a configuration set that enables them; making it the
      // identity's default set covers senders that name none.
      const configurationSet = new aws.sesv2.ConfigurationSet(
        `${name}-config`,
        {
          configurationSetName: regionalName("dkim", args.domain, 64),
          reputationOptions: { reputationMetricsEnabled: true },
          sendingOptions: { sendingEnabled: true },
        },
        childOpts,
      );
      const identity = new aws.sesv2.EmailIdentity(
        `${name}-identity`,
        {
          emailIdentity: args.domain,
          configurationSetName: configurationSet.configurationSetName,
          // No dkimSigningAttributes: see PIPELINE_OWNED_PROPERTIES.
        },
        { ...childOpts, ignoreChanges: [...PIPELINE_OWNED_PROPERTIES], protect: args.protect },
      );
      this.identityArn = identity.arn;
      this.configurationSetName = configurationSet.configurationSetName;
    }
    this.registerOutputs({
      identityArn: this.identityArn,
      configurationSetName: this.configurationSetName,
    });
  }
}
