/**
 * GitHub Actions' OIDC provider and the three roles the pipeline assumes.
 *
 * Only the trust lives here; what each role may do is attached by
 * `RolePermissions`, after the key vault exists (the key policy names the
 * roles and the role policies name the key, so the roles come first).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  ROLE_WORKFLOW_FILES,
  type WorkflowPin,
} from "../../actions/dkim-rotation/src/engine/config";
import {
  GITHUB_OIDC_AUDIENCE,
  GITHUB_OIDC_HOST,
  activatorSubject,
  githubTrustPolicy,
  pinnedSubjects,
  plannerSubject,
  publisherSubject,
} from "./policies";

export interface GithubOidcArgs {
  owner: string;
  repo: string;
  /**
   * The immutable IDs of the owner and the repository. Given, the roles trust
   * the immutable subject form `repo:OWNER@OWNER_ID/REPO@REPO_ID:…` only;
   * absent, the name form `repo:OWNER/REPO:…` only. Never both, never a
   * wildcard: one exact subject per role.
   */
  ids?: { ownerId: pulumi.Input<number | string>; repositoryId: pulumi.Input<number | string> };
  /** The deployment environment whose required reviewers gate activation. */
  environment: string;
  /**
   * github.workflowPin: each role trusts only jobs of the reusable workflows
   * that assume it, at the pinned repository and ref, through the repository's
   * `repo, context, job_workflow_ref` subject template.
   */
  workflowPin?: WorkflowPin;
  /** The publish job's environment (main only); the publisher role trusts it alone. */
  publisherEnvironment: string;
  /** An account has at most one provider per URL; reuse it when it exists. */
  existingProviderArn?: string;
  /** Physical role names are `<namePrefix>-planner` and `<namePrefix>-activator`. */
  namePrefix: string;
  provider: aws.Provider;
}

/** IAM role names are at most 64 characters. */
function roleName(prefix: string, role: string): string {
  return `${prefix.slice(0, 64 - role.length - 1)}-${role}`;
}

export class GithubOidc extends pulumi.ComponentResource {
  readonly providerArn: pulumi.Output<string>;
  readonly plannerRole: aws.iam.Role;
  readonly activatorRole: aws.iam.Role;
  readonly publisherRole: aws.iam.Role;
  /** The exact `sub`s each role trusts (one, or one per workflow file when pinned). */
  readonly subjects: {
    planner: pulumi.Output<string[]>;
    activator: pulumi.Output<string[]>;
    publisher: pulumi.Output<string[]>;
  };

  constructor(name: string, args: GithubOidcArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:GithubOidc", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };

    this.providerArn = args.existingProviderArn
      ? pulumi.output(args.existingProviderArn)
      : new aws.iam.OpenIdConnectProvider(
          `${name}-provider`,
          {
            url: `https://${GITHUB_OIDC_HOST}`,
            clientIdLists: [GITHUB_OIDC_AUDIENCE],
            // No thumbprint: IAM trusts GitHub's issuer through its own CA
            // library, and a pinned thumbprint breaks when GitHub rotates.
          },
          childOpts,
        ).arn;

    // Pinned, a token from any other workflow file or ref (a branch's copy of
    // reusable-rollback.yml) carries another `sub`, and STS refuses it
    // (docs/design.md#github-oidc-subject).
    const pinned = (subject: string, role: keyof typeof ROLE_WORKFLOW_FILES): string[] =>
      args.workflowPin
        ? pinnedSubjects(subject, args.workflowPin, ROLE_WORKFLOW_FILES[role])
        : [subject];

    // GitHub appends each immutable ID to its name with "@" (docs, "Immutable
    // subject claims"), so the name-form builders give the immutable form
    // when handed "owner@id" and "repo@id".
    const who = args.ids
      ? pulumi
          .all([args.ids.ownerId, args.ids.repositoryId])
          .apply(([o, r]) => ({ owner: `${args.owner}@${o}`, repo: `${args.repo}@${r}` }))
      : pulumi.output({ owner: args.owner, repo: args.repo });
    const planner = who.apply((w) => pinned(plannerSubject(w.owner, w.repo), "planner"));
    const activator = who.apply((w) =>
      pinned(activatorSubject(w.owner, w.repo, args.environment), "activator"),
    );
    const publisher = who.apply((w) =>
      pinned(publisherSubject(w.owner, w.repo, args.publisherEnvironment), "publisher"),
    );
    this.subjects = { planner, activator, publisher };

    this.plannerRole = new aws.iam.Role(
      `${name}-planner`,
      {
        name: roleName(args.namePrefix, "planner"),
        description: `Plans DKIM rotations from ${args.owner}/${args.repo} main: creates keys, never reads a private key`,
        assumeRolePolicy: pulumi
          .all([this.providerArn, planner])
          .apply(([arn, sub]) => JSON.stringify(githubTrustPolicy(arn, sub))),
        // The daily plan asks for 110 min (role-duration-seconds 6600): a
        // 5,000-identity snapshot at SES's 1 request/s takes about 88 min.
        maxSessionDuration: 7200,
      },
      childOpts,
    );

    this.activatorRole = new aws.iam.Role(
      `${name}-activator`,
      {
        name: roleName(args.namePrefix, "activator"),
        description: `Activates DKIM keys; only jobs in the ${args.environment} environment of ${args.owner}/${args.repo}`,
        assumeRolePolicy: pulumi
          .all([this.providerArn, activator])
          .apply(([arn, sub]) => JSON.stringify(githubTrustPolicy(arn, sub))),
        // The activation job asks for 90 min (role-duration-seconds 5400):
        // 30 min for SUCCESS, a rollback and its 30 min, DNS checks.
        maxSessionDuration: 7200,
      },
      childOpts,
    );

    // The publisher: DNS writes leave the planner, which every push and
    // schedule run holds. Only a job in the publisher environment (entered
    // from main only, by the push of a merge) can assume it; GitHub puts
    // the environment in `sub` and STS refuses any other subject
    // (docs/design.md#publishers).
    this.publisherRole = new aws.iam.Role(
      `${name}-publisher`,
      {
        name: roleName(args.namePrefix, "publisher"),
        description: `Publishes merged DKIM records; only jobs in the ${args.publisherEnvironment} environment of ${args.owner}/${args.repo}`,
        assumeRolePolicy: pulumi
          .all([this.providerArn, publisher])
          .apply(([arn, sub]) => JSON.stringify(githubTrustPolicy(arn, sub))),
        // The publish job asks for the default hour: a few updates and INSYNC waits.
        maxSessionDuration: 3600,
      },
      childOpts,
    );

    this.registerOutputs({
      providerArn: this.providerArn,
      plannerRoleArn: this.plannerRole.arn,
      activatorRoleArn: this.activatorRole.arn,
      plannerSubject: planner,
      activatorSubject: activator,
      publisherRoleArn: this.publisherRole.arn,
      publisherSubject: publisher,
    });
  }
}
