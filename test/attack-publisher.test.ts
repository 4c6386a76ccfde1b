/**
 * Issue 22, item 2: DNS writes leave the planner role (docs/design.md#publishers).
 *
 * A compromised plan or verify job (the planner role, held by every push and
 * every schedule) must not be able to take DKIM down or publish its own
 * selector, and a forged notice must carry nothing the DNS team would put
 * into DNS. Each claim rests on what a service refuses:
 * - IAM (evaluated by @cloud-copilot/iam-simulate over the documents
 *   infra/components/policies.ts produces; test/infra.test.ts asserts the
 *   roles carry exactly these documents): the planner may change no record
 *   and read no TSIG secret; the publisher may only CREATE TXT records under
 *   `_domainkey.` of its domains; the activator may only DELETE them;
 * - STS (the trust policy): only a job in the publisher environment may
 *   assume the publisher role, in either OIDC subject form;
 * - Route 53 (the emulator, which refuses as AWS documents): a CREATE over
 *   an existing record set, the active selector's, is InvalidChangeBatch;
 * - the notices name the pull request, the file on main and the key
 *   fingerprint, never a record value.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import {
  ChangeResourceRecordSetsCommand,
  Route53Client,
  type Change,
} from "@aws-sdk/client-route-53";
import { runSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import {
  activatorPolicy,
  activatorSubject,
  githubTrustPolicy,
  identityArn,
  namedSecretArn,
  notificationTopicPolicy,
  plannerPolicy,
  plannerSubject,
  publisherPolicy,
  publisherSubject,
  type PolicyDocument,
  type RolePolicyScope,
} from "../infra/components/policies";
import { Route53Publisher, route53TxtValue } from "../actions/dkim-rotation/src/adapters/route53";
import { noticeText } from "../actions/dkim-rotation/src/notice-text";
import { NOTICE_AUDIENCE, type NoticeKind } from "../actions/dkim-rotation/src/engine/notify";
import { publicKeyFingerprint } from "../actions/dkim-rotation/src/engine/keys";
import { dkimRecordValue, splitTxt } from "../actions/dkim-rotation/src/engine/record";
import { parseProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { runEntryPoint } from "./helpers/entry-point";
import { assumeWithWebIdentity } from "./helpers/sts-trust";
import { ActionsModel, branchMatches } from "../scripts/github-fake-actions";

const ACCOUNT = "123456789012";
const REGION = "ap-northeast-1";
const DOMAIN = "example.jp";
const ZONE_ID = "Z0123456789ABCDEFGHIJ";
const ZONE = `arn:aws:route53:::hostedzone/${ZONE_ID}`;
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:ses-dkim-rotation-notifications`;
const TSIG_NAME = `ses-dkim-rotation/tsig/${DOMAIN}`;
const TSIG_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${TSIG_NAME}-XyZ123`;
const DKIM_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:dkim/${DOMAIN}/x-AbCdEf`;
const ROLE = {
  planner: `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-planner`,
  activator: `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-activator`,
  publisher: `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-publisher`,
} as const;
type Who = keyof typeof ROLE;

const account = {
  partition: "aws",
  dnsSuffix: "amazonaws.com",
  accountId: ACCOUNT,
  homeRegion: REGION,
};
const scope: RolePolicyScope = {
  ...account,
  secretPrefix: "dkim",
  kmsKeyArn: KEY_ARN,
  domains: [DOMAIN],
  identityArns: [identityArn(account, REGION, DOMAIN)],
  metricsNamespace: "SesDkimRotation",
  notificationTopicArn: TOPIC,
  tsigSecretArns: [namedSecretArn(account, TSIG_NAME)],
  route53Zones: [{ hostedZoneId: ZONE_ID, domains: [DOMAIN] }],
};
const POLICY: Record<Who, PolicyDocument> = {
  planner: plannerPolicy(scope),
  activator: activatorPolicy(scope),
  publisher: publisherPolicy(scope),
};
/** Someone attaches a broad policy later: the explicit denies must still hold. */
const BROAD: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "AttachedLater",
      Effect: "Allow",
      Action: ["route53:*", "secretsmanager:*", "sns:Publish"],
      Resource: "*",
    },
  ],
};
const TOPIC_POLICY = notificationTopicPolicy({
  topicArn: TOPIC,
  publisherRoleArns: [ROLE.planner, ROLE.activator],
});

/** One ChangeResourceRecordSets batch, as Route 53 fills its condition keys (one value per change). */
const batch = (changes: [action: string, name: string, type?: string][]) => ({
  "route53:ChangeResourceRecordSetsActions": changes.map(([a]) => a),
  "route53:ChangeResourceRecordSetsNormalizedRecordNames": changes.map(([, n]) => n),
  "route53:ChangeResourceRecordSetsRecordTypes": changes.map(([, , t]) => t ?? "TXT"),
});
const DKIM = `x._domainkey.${DOMAIN}`;
const ACTIVE = `mail-20270101._domainkey.${DOMAIN}`;

type Result = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

async function evaluate(
  who: Who,
  action: string,
  resource: string,
  context: Record<string, string | string[]> = {},
  broad = false,
): Promise<string> {
  const simulation: Simulation = {
    request: {
      principal: ROLE[who],
      action,
      resource: { resource, accountId: ACCOUNT },
      contextVariables: {
        "aws:PrincipalArn": ROLE[who],
        "aws:PrincipalAccount": ACCOUNT,
        ...context,
      },
    },
    identityPolicies: [
      { name: "own", policy: POLICY[who] },
      ...(broad ? [{ name: "broad", policy: BROAD }] : []),
    ],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(action.startsWith("sns:") ? { resourcePolicy: TOPIC_POLICY } : {}),
  };
  const result = await runSimulation(simulation, {});
  if (result.resultType === "error") throw new Error(JSON.stringify(result.errors));
  if (result.resultType === "single" && result.result.ignoredContextKeys?.length)
    throw new Error(`the simulator ignored ${result.result.ignoredContextKeys.join(", ")}`);
  return result.overallResult;
}

interface Path {
  who: Who;
  what: string;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  expect: Result;
  /** With route53:*, secretsmanager:* and sns:Publish attached too (default: the same, ImplicitlyDenied becomes Allowed). */
  withBroad?: Result;
}

const CHANGE = "route53:ChangeResourceRecordSets";
const PATHS: Path[] = [
  // ---- the planner: every push and every schedule ----
  ...(["CREATE", "UPSERT", "DELETE"] as const).map((a): Path => ({
    who: "planner",
    what: `${a} a DKIM TXT record`,
    action: CHANGE,
    resource: ZONE,
    context: batch([[a, DKIM]]),
    expect: "ExplicitlyDenied",
  })),
  {
    who: "planner",
    what: "UPSERT the active selector's record (take DKIM down)",
    action: CHANGE,
    resource: ZONE,
    context: batch([["UPSERT", ACTIVE]]),
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "read the TSIG secret (the key whose update-policy covers every _domainkey TXT)",
    action: "secretsmanager:GetSecretValue",
    resource: TSIG_SECRET,
    expect: "ExplicitlyDenied",
  },
  // ---- the publisher: the merge's push only, CREATE only ----
  {
    who: "publisher",
    what: "CREATE TXT x._domainkey.<domain> (its job)",
    action: CHANGE,
    resource: ZONE,
    context: batch([["CREATE", DKIM]]),
    expect: "Allowed",
  },
  {
    who: "publisher",
    what: "UPSERT over the active selector's record",
    action: CHANGE,
    resource: ZONE,
    context: batch([["UPSERT", ACTIVE]]),
    expect: "ExplicitlyDenied",
  },
  {
    who: "publisher",
    what: "DELETE the active selector's record",
    action: CHANGE,
    resource: ZONE,
    context: batch([["DELETE", ACTIVE]]),
    expect: "ExplicitlyDenied",
  },
  {
    who: "publisher",
    what: "slip a DELETE into a batch of CREATEs",
    action: CHANGE,
    resource: ZONE,
    context: batch([
      ["CREATE", DKIM],
      ["DELETE", ACTIVE],
    ]),
    expect: "ExplicitlyDenied",
  },
  {
    who: "publisher",
    what: "CREATE a CNAME under _domainkey (delegating a selector)",
    action: CHANGE,
    resource: ZONE,
    context: batch([["CREATE", DKIM, "CNAME"]]),
    expect: "ImplicitlyDenied",
    withBroad: "Allowed",
  },
  {
    who: "publisher",
    what: "CREATE a record outside _domainkey",
    action: CHANGE,
    resource: ZONE,
    context: batch([["CREATE", `www.${DOMAIN}`]]),
    expect: "ImplicitlyDenied",
  },
  {
    who: "publisher",
    what: "CREATE the DKIM record of a domain the zone does not serve",
    action: CHANGE,
    resource: ZONE,
    context: batch([["CREATE", "x._domainkey.evil.example"]]),
    expect: "ImplicitlyDenied",
  },
  {
    who: "publisher",
    what: "CREATE in another hosted zone",
    action: CHANGE,
    resource: "arn:aws:route53:::hostedzone/ZOTHERZONE0000000000",
    context: batch([["CREATE", DKIM]]),
    expect: "ImplicitlyDenied",
  },
  {
    who: "publisher",
    what: "read the TSIG secret (its job, rfc2136)",
    action: "secretsmanager:GetSecretValue",
    resource: TSIG_SECRET,
    expect: "Allowed",
  },
  {
    who: "publisher",
    what: "read a stored DKIM key",
    action: "secretsmanager:GetSecretValue",
    resource: DKIM_SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "publisher",
    what: "publish a notice to the DNS team's topic",
    action: "sns:Publish",
    resource: TOPIC,
    expect: "ExplicitlyDenied",
  },
  // ---- the activator: the gated retire job, DELETE only ----
  {
    who: "activator",
    what: "DELETE a retired selector's TXT record (its job)",
    action: CHANGE,
    resource: ZONE,
    context: batch([["DELETE", `mail-20260101._domainkey.${DOMAIN}`]]),
    expect: "Allowed",
  },
  ...(["CREATE", "UPSERT"] as const).map((a): Path => ({
    who: "activator",
    what: `${a} a DKIM TXT record`,
    action: CHANGE,
    resource: ZONE,
    context: batch([[a, DKIM]]),
    expect: "ExplicitlyDenied",
  })),
];

describe("attack: DNS writes left the planner role (issue 22 item 2)", function () {
  this.timeout(60_000);

  describe("IAM (iam-simulate over the produced role policies)", function () {
    for (const path of PATHS) {
      it(`${path.who}: ${path.what} → ${path.expect}`, async function () {
        const own = await evaluate(path.who, path.action, path.resource, path.context);
        expect(own, "with its own policy").to.equal(path.expect);
        const broadExpected =
          path.withBroad ?? (path.expect === "ImplicitlyDenied" ? "Allowed" : path.expect);
        const broad = await evaluate(path.who, path.action, path.resource, path.context, true);
        expect(broad, "with route53:*, secretsmanager:* and sns:Publish attached").to.equal(
          broadExpected,
        );
      });
    }
  });

  describe("STS: the publisher role's trust admits only its environment's subject", function () {
    const provider = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
    const { github } = parseProjectConfig(
      {
        identities: [{ domain: DOMAIN, selectorPrefix: "x" }],
        github: { owner: "example-jp", repo: "ses-dkim-rotation" },
      },
      { file: "Pulumi.test.yaml", project: "ses-dkim-rotation", defaultRegion: REGION },
    );
    const env = github!.publisherEnvironment;
    // Both forms: GitHub appends the immutable IDs with "@" (github-oidc.ts).
    for (const [form, owner, repo] of [
      ["name form", "example-jp", "ses-dkim-rotation"],
      ["immutable form", "example-jp@4200001", "ses-dkim-rotation@987654321"],
    ] as const) {
      const trust = githubTrustPolicy(provider, publisherSubject(owner, repo, env));
      const assume = (sub: string) =>
        assumeWithWebIdentity(trust, { provider, role: ROLE.publisher, account: ACCOUNT, sub });
      it(`${form}: a job in ${env} may assume it; the plan, verify and gated jobs may not`, async function () {
        expect(await assume(`repo:${owner}/${repo}:environment:${env}`)).to.equal("Allowed");
        for (const sub of [
          plannerSubject(owner, repo), // every push and schedule on main
          activatorSubject(owner, repo, "dkim-production"), // the gated jobs
          `repo:${owner}/${repo}:pull_request`,
          `repo:${owner}/${repo}:ref:refs/heads/dkim-dns`,
          `repo:${owner}/other:environment:${env}`,
          `repo:${owner}/${repo}:environment:${env}-copy`,
        ])
          expect(await assume(sub), sub).to.equal("ImplicitlyDenied");
      });
    }
  });

  describe("GitHub (the fake, as GitHub documents): only main enters the publisher environment", function () {
    const model = () =>
      new ActionsModel({
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        ownerId: 4200001,
        repositoryId: 987654321,
        immutableSubjects: false,
        waitingHolds: "pending",
        now: () => "2027-01-01T00:00:00Z",
        baseUrl: () => "http://127.0.0.1:1",
      });
    it("a job from another branch fails before it reaches a runner, so it never gets the environment's OIDC subject", function () {
      const gh = model();
      gh.setEnvironment("dkim-dns", { branchPatterns: ["main"] });
      const feature = gh.startRun(".github/workflows/dkim-activate.yml", {
        event: "workflow_dispatch",
        headSha: "a".repeat(40),
        headBranch: "feature/own-selector",
      });
      const refused = gh.queueJob(feature.id, { name: "Publish", environment: "dkim-dns" });
      expect([refused.status, refused.conclusion]).to.deep.equal(["completed", "failure"]);
      expect(refused.rejectedBy).to.equal(
        'Branch "feature/own-selector" is not allowed to deploy to dkim-dns due to environment protection rules.',
      );
      const main = gh.startRun(".github/workflows/dkim-activate.yml", {
        event: "push",
        headSha: "b".repeat(40),
      });
      const ok = gh.queueJob(main.id, { name: "Publish", environment: "dkim-dns" });
      expect(ok.status).to.equal("in_progress");
      expect(gh.subjectOf(ok)).to.equal("repo:example-jp/ses-dkim-rotation:environment:dkim-dns");
    });
    it("patterns are fnmatch-like and a wildcard never matches /", function () {
      expect(branchMatches("main", "main")).to.equal(true);
      expect(branchMatches("main", "main2")).to.equal(false);
      expect(branchMatches("release/*", "release/1")).to.equal(true);
      expect(branchMatches("release/*", "release/1/x")).to.equal(false);
    });
  });

  describe("the action: publish runs only in the publisher environment, never on a schedule", function () {
    const workspace = process.cwd();
    it("refuses a scheduled run in one line before any AWS call", async function () {
      const run = await runEntryPoint(
        { command: "publish", config: "Pulumi.prod.yaml", environment: "dkim-dns" },
        { workspace, event: "schedule", repository: "example-jp/ses-dkim-rotation" },
      );
      expect(run.exitCode).to.equal(1);
      expect(run.errors).to.deep.equal([
        "input:command: field command: publish refuses to run on a schedule (hint: publish runs on the merge's push to main, or by hand (workflow_dispatch) from main)",
      ]);
    });
    it("refuses the gated environment's name: publish belongs to github.publisherEnvironment", async function () {
      const run = await runEntryPoint(
        { command: "publish", config: "Pulumi.prod.yaml", environment: "dkim-production" },
        { workspace, event: "push", repository: "example-jp/ses-dkim-rotation" },
      );
      expect(run.exitCode).to.equal(1);
      expect(run.errors[0]).to.match(
        /^input:environment: field environment: "dkim-production" is not the environment \S*Pulumi\.prod\.yaml names in github\.publisherEnvironment \("dkim-dns"\)/,
      );
    });
  });

  describe("Route 53 (the emulator, refusing as AWS documents): CREATE over the active record", function () {
    let aws: AwsEmulator;
    let r53: Route53Client;
    let zoneId: string;
    const now = { t: Date.parse("2027-01-01T00:00:00Z") };
    const active = "mail-20270101";
    const activeValue = route53TxtValue(splitTxt(dkimRecordValue("MIIBIjANBgkqACTIVE")));

    before(async function () {
      aws = await startAwsEmulator({
        clock: { now: () => new Date(now.t) },
        route53: { requestsPerSecond: 1000, propagationMs: 1000 },
      });
      r53 = new Route53Client({
        endpoint: aws.url,
        region: "us-east-1",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator-secret" },
        maxAttempts: 1,
      });
      zoneId = aws.createHostedZone(DOMAIN);
      const seed: Change = {
        Action: "CREATE",
        ResourceRecordSet: {
          Name: `${active}._domainkey.${DOMAIN}.`,
          Type: "TXT",
          TTL: 3600,
          ResourceRecords: [{ Value: activeValue }],
        },
      };
      await r53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Changes: [seed] },
        }),
      );
    });
    after(async function () {
      r53?.destroy();
      await aws?.close();
    });

    it("Route 53 itself refuses a CREATE of the existing set, whatever the caller's code (InvalidChangeBatch)", async function () {
      const before = aws.route53Records(zoneId);
      let error: Error | undefined;
      await r53
        .send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            ChangeBatch: {
              Changes: [
                {
                  Action: "CREATE",
                  ResourceRecordSet: {
                    Name: `${active}._domainkey.${DOMAIN}.`,
                    Type: "TXT",
                    TTL: 60,
                    ResourceRecords: [{ Value: '"v=DKIM1; k=rsa; p=ATTACKER"' }],
                  },
                },
              ],
            },
          }),
        )
        .catch((e: Error) => (error = e));
      expect(error?.name).to.equal("InvalidChangeBatch");
      expect(error?.message).to.equal(
        `[Tried to create resource record set [name='${active}._domainkey.${DOMAIN}.', type='TXT'] but it already exists]`,
      );
      expect(aws.route53Records(zoneId)).to.deep.equal(before);
    });

    it("the publisher refuses in one line to publish over it and leaves it serving", async function () {
      const publisher = new Route53Publisher(r53, zoneId, {
        sleep: async (ms) => void (now.t += ms),
        pollMs: 1000,
      });
      const err = await publisher
        .publish({
          domain: DOMAIN,
          selector: active,
          strings: splitTxt(dkimRecordValue("MIIBIjANBgkqATTACKER")),
          ttl: 300,
        })
        .then(
          () => undefined,
          (e: Error) => e,
        );
      expect(err?.message).to.equal(
        `Route 53 hosted zone ${zoneId} already holds a different TXT record at ${active}._domainkey.${DOMAIN}.; refusing to publish over it (hint: a selector is never reused, so that record is not this key's: ask the DNS team who wrote it; delete it in the zone only if it is not a live key, then re-run the publish job)`,
      );
      const set = aws
        .route53Records(zoneId)
        .find((s) => s.name === `${active}._domainkey.${DOMAIN}.`)!;
      expect(set.values).to.deep.equal([activeValue]);
    });
  });

  describe("a forged notice carries nothing to publish", function () {
    const publicKey = Buffer.alloc(294, 7).toString("base64");
    const identity = {
      domain: DOMAIN,
      selectorPrefix: "x",
      regions: [REGION],
      keyBits: 2048 as const,
      rotationDays: 180,
      dnsLeadDays: 14,
      alertDays: 200,
      graceDays: 7,
      recordTtl: 3600,
    };
    const rotation = {
      identity,
      selector: "x-20270101",
      rollback: { kind: "none" as const, why: "test" },
      path: `dns/${DOMAIN}/x-20270101.zone`,
      recordFileText: "(not in a message)",
      joinedValue: dkimRecordValue(publicKey),
      fingerprint: publicKeyFingerprint(publicKey),
      nameservers: ["127.0.0.1:5300"],
      generatedAt: new Date("2027-01-01T00:00:00Z"),
      publishBy: new Date("2027-01-15T00:00:00Z"),
      earliestActivation: new Date("2027-01-15T00:00:00Z"),
      retireOldAfter: new Date("2027-01-22T00:00:00Z"),
      retiredBy: new Date("2027-02-05T00:00:00Z"),
    };
    for (const publisher of ["manual", "route53"] as const)
      for (const kind of Object.keys(NOTICE_AUDIENCE) as NoticeKind[])
        it(`${publisher} ${kind}: names the PR, the file on main and the fingerprint, never a p= value`, function () {
          const { subject, message } = noticeText({
            event: kind,
            kind,
            audience: NOTICE_AUDIENCE[kind],
            identity: { ...identity, publisher },
            selector: rotation.selector,
            recordName: `${rotation.selector}._domainkey.${DOMAIN}`,
            publisher,
            now: new Date("2027-01-05T00:00:00Z"),
            environment: "dkim-production",
            rotation: rotation as never,
            days: 2,
          });
          const text = `${subject}\n${message}`;
          expect(text).not.to.include(publicKey.slice(0, 40));
          expect(text).not.to.match(/p=[A-Za-z0-9+/]/);
          expect(text).not.to.include("v=DKIM1");
          if (["pr-opened", "merged", "reminder", "overdue"].includes(kind)) {
            expect(text).to.include(`${rotation.path} on main`);
            expect(text).to.include(rotation.fingerprint);
            expect(text).to.match(/^Pull request: /m);
          }
        });

    it("the golden messages of a whole rotation hold no record value either", function () {
      const golden = readFileSync("test/golden/notifications.txt", "utf8");
      // test/notifications.test.ts replaces each value by this placeholder: none is left to replace.
      expect(golden).not.to.include("<v=DKIM1 record of");
      expect(golden).not.to.match(/p=[A-Za-z0-9+/]/);
      expect(golden).to.include("never from a message");
    });
  });
});
