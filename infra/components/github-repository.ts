/**
 * The repository side of the human gate, when the stack is allowed to manage
 * it (`github.manageRepository: true`, with a token that can administer the
 * repository in `GITHUB_TOKEN`).
 *
 * - The deployment environment whose required reviewers approve each
 *   activation. The activator role trusts only jobs in this environment, so
 *   the approval is what unlocks the private keys.
 * - A deployment branch policy of `main` only, so a job on another branch
 *   cannot enter the environment at all.
 * - Repository variables with the role ARNs and Region for the workflows.
 * - A tag ruleset: release tags (`v*`) can be created but never updated or
 *   deleted (GitHub refuses it; no bypass actors).
 * - Two rulesets (docs/design.md#bot-branches): the record branches
 *   `dkim/**`, `dkim-retire/**` and `dkim-batch/**` can be created, updated and deleted only
 *   by the DKIM GitHub App (the one bypass actor), and the default branch
 *   requires a reviewed PR whose approvals are dismissed by a later push.
 *
 * Required reviewers on private repositories need GitHub Enterprise (or a
 * public repository); without them the environment is not a gate. With
 * `github.approval: pull-request` (docs/design.md#approval-by-pull-request)
 * the environment has no reviewers (main only still), the record-branch
 * ruleset also covers the request branches `dkim-approval/**`, and the
 * default branch requires `github.requiredApprovals` approvals. CODEOWNERS is
 * not managed here: Pulumi would have to push to the default branch, which
 * the ruleset refuses; docs/infrastructure.md shows the lines to merge.
 */
import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";
import {
  botBranchPatterns,
  DEFAULT_BRANCH_PULL_REQUEST,
  PINNED_SUBJECT_CLAIM_KEYS,
} from "../../actions/dkim-rotation/src/engine/config";

/** The tag ruleset that keeps release tags from moving (docs/operations.md, "Releases"). */
export const RELEASE_TAG_RULESET = { name: "release tags never move", pattern: "refs/tags/v*" };

export const REPOSITORY_VARIABLES = {
  planner: "AWS_PLANNER_ROLE_ARN",
  activator: "AWS_ACTIVATOR_ROLE_ARN",
  publisher: "AWS_PUBLISHER_ROLE_ARN",
  region: "AWS_REGION",
} as const;

/**
 * The immutable IDs of a managed repository and its owner, read through the
 * GitHub provider (the repository's `repoId`, the owner's user/organisation id).
 */
export function readRepositoryIds(
  owner: string,
  repo: string,
): { ownerId: pulumi.Output<string>; repositoryId: pulumi.Output<number> } {
  // Plain reads (no owner needed): the token comes from GITHUB_TOKEN, as for the component.
  return {
    ownerId: pulumi.output(github.getUser({ username: owner })).apply((u) => u.id),
    repositoryId: pulumi
      .output(github.getRepository({ fullName: `${owner}/${repo}` }))
      .apply((r) => r.repoId),
  };
}

export interface GithubRepositoryArgs {
  owner: string;
  repo: string;
  environment: string;
  /** The publish job's environment: no reviewers, main only. */
  publisherEnvironment: string;
  reviewers: { users: number[]; teams: number[] };
  /** The DKIM GitHub App's id: the record-branch ruleset's only bypass actor. */
  appId: number;
  plannerRoleArn: pulumi.Input<string>;
  activatorRoleArn: pulumi.Input<string>;
  publisherRoleArn: pulumi.Input<string>;
  region: string;
  /** github.workflowPin is set: the repository's tokens carry job_workflow_ref in `sub`. */
  pinWorkflows?: boolean;
  /** github.approval: who approves a gated job (environment reviewers by default). */
  approval?: "environment" | "pull-request";
  /** github.requiredApprovals: the default branch's approval count in pull-request mode. */
  requiredApprovals?: number;
}

export class GithubRepository extends pulumi.ComponentResource {
  readonly environment: github.RepositoryEnvironment;
  readonly publisherEnvironment: github.RepositoryEnvironment;

  constructor(name: string, args: GithubRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:GithubRepository", name, {}, opts);
    // The token comes from GITHUB_TOKEN in the environment, never from config.
    const provider = new github.Provider(
      `${name}-provider`,
      { owner: args.owner },
      { parent: this },
    );
    const childOpts = { parent: this, provider };
    const approval = args.approval ?? "environment";

    this.environment = new github.RepositoryEnvironment(
      `${name}-environment`,
      {
        repository: args.repo,
        environment: args.environment,
        // Pull-request mode: the merged request PR is the approval, so no
        // reviewers (which private repositories without Enterprise lack).
        ...(approval === "environment"
          ? {
              reviewers: [{ users: args.reviewers.users, teams: args.reviewers.teams }],
              // The person who started the run cannot approve it, and admins cannot
              // skip the approval.
              preventSelfReview: true,
            }
          : {}),
        canAdminsBypass: false,
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      },
      childOpts,
    );

    new github.RepositoryEnvironmentDeploymentPolicy(
      `${name}-main-only`,
      { repository: args.repo, environment: this.environment.environment, branchPattern: "main" },
      childOpts,
    );

    // The publish job's environment: no reviewers (it runs on the merge's
    // push, which the DNS reviewers already approved), but only `main` may
    // enter it, so the publisher role's trust (this environment's `sub`)
    // admits no job on another branch (docs/design.md#publishers).
    this.publisherEnvironment = new github.RepositoryEnvironment(
      `${name}-publisher-environment`,
      {
        repository: args.repo,
        environment: args.publisherEnvironment,
        canAdminsBypass: false,
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      },
      childOpts,
    );

    new github.RepositoryEnvironmentDeploymentPolicy(
      `${name}-publisher-main-only`,
      {
        repository: args.repo,
        environment: this.publisherEnvironment.environment,
        branchPattern: "main",
      },
      childOpts,
    );

    const variables: [string, pulumi.Input<string>][] = [
      [REPOSITORY_VARIABLES.planner, args.plannerRoleArn],
      [REPOSITORY_VARIABLES.activator, args.activatorRoleArn],
      [REPOSITORY_VARIABLES.publisher, args.publisherRoleArn],
      [REPOSITORY_VARIABLES.region, args.region],
    ];
    for (const [variableName, value] of variables) {
      new github.ActionsVariable(
        `${name}-${variableName.toLowerCase()}`,
        { repository: args.repo, variableName, value },
        childOpts,
      );
    }

    // The subject template the pinned trust expects (docs/design.md#github-oidc-subject).
    if (args.pinWorkflows)
      new github.ActionsRepositoryOidcSubjectClaimCustomizationTemplate(
        `${name}-oidc-subject`,
        {
          repository: args.repo,
          useDefault: false,
          includeClaimKeys: [...PINNED_SUBJECT_CLAIM_KEYS],
        },
        childOpts,
      );

    // Release tags never move (docs/design.md#pinning-reusable-workflows): a
    // tag ruleset on v*, with no one allowed to bypass it, makes GitHub refuse
    // any update or deletion of a release tag; creating a new one stays open
    // to the release workflow. Adopters still pin by commit SHA, since an
    // administrator can change a ruleset.
    new github.RepositoryRuleset(
      `${name}-release-tags`,
      {
        repository: args.repo,
        name: RELEASE_TAG_RULESET.name,
        target: "tag",
        enforcement: "active",
        conditions: { refName: { includes: [RELEASE_TAG_RULESET.pattern], excludes: [] } },
        rules: { update: true, deletion: true, nonFastForward: true },
        bypassActors: [],
      },
      childOpts,
    );

    // GitHub refuses any other push to a record branch (docs/design.md#bot-branches).
    new github.RepositoryRuleset(
      `${name}-record-branches`,
      {
        repository: args.repo,
        name: "DKIM record branches: the App only",
        target: "branch",
        enforcement: "active",
        conditions: { refName: { includes: botBranchPatterns(approval), excludes: [] } },
        rules: { creation: true, update: true, deletion: true },
        bypassActors: [{ actorId: args.appId, actorType: "Integration", bypassMode: "always" }],
      },
      childOpts,
    );
    // An approval does not survive a later push, and the code owners review.
    const pr = DEFAULT_BRANCH_PULL_REQUEST;
    new github.RepositoryRuleset(
      `${name}-default-branch`,
      {
        repository: args.repo,
        name: "Default branch: reviewed pull requests",
        target: "branch",
        enforcement: "active",
        conditions: { refName: { includes: ["~DEFAULT_BRANCH"], excludes: [] } },
        rules: {
          pullRequest: {
            requiredApprovingReviewCount:
              approval === "pull-request"
                ? (args.requiredApprovals ?? 2)
                : pr.required_approving_review_count,
            dismissStaleReviewsOnPush: pr.dismiss_stale_reviews_on_push,
            requireLastPushApproval: pr.require_last_push_approval,
            requireCodeOwnerReview: pr.require_code_owner_review,
            requiredReviewThreadResolution: pr.required_review_thread_resolution,
          },
        },
        // Nobody merges around the reviews: the pull-request gate refuses a
        // ruleset naming any bypass actor (docs/design.md#approval-by-pull-request).
        bypassActors: [],
      },
      childOpts,
    );

    this.registerOutputs({
      environment: this.environment.environment,
      publisherEnvironment: this.publisherEnvironment.environment,
    });
  }
}
