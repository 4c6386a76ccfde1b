/**
 * What STS decides for a GitHub OIDC token against a role's trust policy,
 * through the IAM policy simulator (test/policy-attacks.test.ts holds the
 * identity-policy paths).
 */
import { runUnsafeSimulation } from "@cloud-copilot/iam-simulate";
import type { PolicyDocument } from "../../infra/components/policies";

export interface TrustRequest {
  /** The OIDC provider's ARN (the trust's federated principal). */
  provider: string;
  /** The role's ARN and account. */
  role: string;
  account: string;
  /** The token's `sub` claim. */
  sub: string;
}

/** "Allowed", "ImplicitlyDenied" or "ExplicitlyDenied" for sts:AssumeRoleWithWebIdentity. */
export async function assumeWithWebIdentity(
  trust: PolicyDocument,
  r: TrustRequest,
): Promise<string> {
  // The OIDC provider's condition keys are not in the service authorization
  // data, so the validated engine would drop them: run the unsafe one, with
  // the trust handed in pre-validated (it reads the policy's name).
  return runUnsafeSimulation(
    {
      request: {
        principal: r.provider,
        action: "sts:AssumeRoleWithWebIdentity",
        resource: { resource: r.role, accountId: r.account },
        contextVariables: {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": r.sub,
        },
      },
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: {
        __validated: true,
        policyDocument: trust,
        metadata: { name: "trust" },
        errors: [],
      },
    } as never,
    {},
  ) as unknown as Promise<string>;
}
