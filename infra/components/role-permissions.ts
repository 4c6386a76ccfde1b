/**
 * What the planner, activator and publisher roles may do (see `policies.ts` for the
 * documents and why each statement exists). Inline policies, so the grants
 * live and die with the roles and no other principal can share them.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { activatorPolicy, plannerPolicy, publisherPolicy, type RolePolicyScope } from "./policies";

export interface RolePermissionsArgs {
  plannerRole: aws.iam.Role;
  activatorRole: aws.iam.Role;
  publisherRole: aws.iam.Role;
  scope: pulumi.Input<RolePolicyScope>;
  provider: aws.Provider;
}

export class RolePermissions extends pulumi.ComponentResource {
  readonly plannerPolicy: aws.iam.RolePolicy;
  readonly activatorPolicy: aws.iam.RolePolicy;
  readonly publisherPolicy: aws.iam.RolePolicy;
  /** What the policies were made from (the reports role's policy reuses it). */
  readonly scope: pulumi.Output<RolePolicyScope>;

  constructor(name: string, args: RolePermissionsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:RolePermissions", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };
    const scope = pulumi.output(args.scope);
    this.scope = scope;

    this.plannerPolicy = new aws.iam.RolePolicy(
      `${name}-planner`,
      {
        role: args.plannerRole.name,
        name: "dkim-planner",
        policy: scope.apply((s) => JSON.stringify(plannerPolicy(s))),
      },
      childOpts,
    );

    this.activatorPolicy = new aws.iam.RolePolicy(
      `${name}-activator`,
      {
        role: args.activatorRole.name,
        name: "dkim-activator",
        policy: scope.apply((s) => JSON.stringify(activatorPolicy(s))),
      },
      childOpts,
    );

    this.publisherPolicy = new aws.iam.RolePolicy(
      `${name}-publisher`,
      {
        role: args.publisherRole.name,
        name: "dkim-publisher",
        policy: scope.apply((s) => JSON.stringify(publisherPolicy(s))),
      },
      childOpts,
    );

    this.registerOutputs({});
  }
}
