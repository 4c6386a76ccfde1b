/**
 * The Pulumi program under `pulumi.runtime.setMocks` (the CLI cannot run
 * here). Every assertion is made on what the program actually sends to the
 * Pulumi engine: the mock monitor's RegisterResource requests, including the
 * resource options (ignoreChanges, protect, provider) that `Mocks.newResource`
 * never sees.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import type { EstateConfig, ParseOptions } from "../infra/config";
import type { Estate, EstateOptions } from "../infra/estate";
import type { PolicyDocument, PolicyStatement } from "../infra/components/policies";
import { notificationTopicArn } from "../actions/dkim-rotation/src/engine/config";
import {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "../actions/dkim-rotation/src/engine/metrics";

const PROJECT = "ses-dkim-rotation";
const STACK = "prod";
const ACCOUNT = "123456789012";
const STACK_FILE = "Pulumi.prod.yaml";

interface Registration {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** `<provider urn>::<provider id>`, or "" for the default provider / components. */
  provider: string;
  ignoreChanges: string[];
  protect: boolean;
  custom: boolean;
  /** The parent's URN ("" for the stack). */
  parent: string;
  /** The `import` option: the ID of an existing resource to adopt ("" when created). */
  importId: string;
}

/** What the gRPC request from the SDK looks like (the parts we read). */
interface RegisterResourceRequest {
  getType(): string;
  getName(): string;
  getObject(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
  getProvider(): string;
  getIgnorechangesList(): string[];
  getProtect(): boolean;
  getCustom(): boolean;
  getParent(): string;
  getImportid(): string;
}
type Callback = (err: unknown, res: unknown) => void;

let registrations: Registration[] = [];
let pending = 0;

function fakeState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  region: string,
  imported = false,
) {
  const id = `${name}_id`;
  switch (type) {
    case "aws:iam/role:Role":
      return { ...inputs, arn: `arn:aws:iam::${ACCOUNT}:role/${String(inputs.name)}` };
    case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
      return {
        ...inputs,
        arn: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
      };
    case "aws:kms/key:Key":
      return { ...inputs, keyId: id, arn: `arn:aws:kms:${region}:${ACCOUNT}:key/${id}` };
    case "aws:sns/topic:Topic":
      return { ...inputs, arn: `arn:aws:sns:${region}:${ACCOUNT}:${String(inputs.name)}` };
    case "aws:cloudwatch/metricAlarm:MetricAlarm":
      return {
        ...inputs,
        arn: `arn:aws:cloudwatch:${region}:${ACCOUNT}:alarm:${String(inputs.name)}`,
      };
    case "aws:sesv2/emailIdentity:EmailIdentity":
      return {
        // An imported identity arrives with what it already has in SES.
        ...(imported ? { configurationSetName: "legacy-events", tags: { team: "mail" } } : {}),
        ...inputs,
        arn: `arn:aws:ses:${region}:${ACCOUNT}:identity/${String(inputs.emailIdentity)}`,
      };
    default:
      return inputs;
  }
}

const providerRegions = new Map<string, string>();

const mocks: pulumi.runtime.Mocks = {
  newResource(args) {
    if (args.type === "pulumi:providers:aws") {
      providerRegions.set(`${args.name}_id`, String(args.inputs.region));
    }
    const providerId = args.provider?.split("::").pop() ?? "";
    const region = providerRegions.get(providerId) ?? "us-east-1";
    return {
      id: args.id || `${args.name}_id`,
      state: fakeState(args.type, args.name, args.inputs, region, Boolean(args.id)),
    };
  },
  call(args) {
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return {
          accountId: ACCOUNT,
          arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/session`,
          userId: "AROAEXAMPLE:session",
          id: ACCOUNT,
        };
      // The managed repository's immutable IDs (readRepositoryIds).
      case "github:index/getUser:getUser":
        return { id: "4200001", login: String(args.inputs.username) };
      case "github:index/getRepository:getRepository":
        return { id: String(args.inputs.fullName), repoId: 987654321 };
      case "aws:index/getPartition:getPartition":
        return {
          partition: "aws",
          dnsSuffix: "amazonaws.com",
          reverseDnsPrefix: "com.amazonaws",
          id: "aws",
        };
      default:
        throw new Error(`unexpected invoke ${args.token}`);
    }
  },
};

/** Wait until every registration the program started has reached the mock monitor. */
async function settle(): Promise<void> {
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    if (pending === 0 && registrations.length === last) return;
    last = registrations.length;
  }
}

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Config values as the Pulumi engine hands them to a program: strings raw, the rest as JSON. */
function stackFileValues(path = STACK_FILE): Record<string, unknown> {
  const doc = parseYaml(readFileSync(path, "utf8")) as { config: Record<string, unknown> };
  return doc.config;
}

function projectValues(config: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith(`${PROJECT}:`)) values[key.slice(PROJECT.length + 1)] = value;
  }
  return values;
}

function setPulumiConfig(config: Record<string, unknown>, secretKeys?: string[]): void {
  const encoded: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    encoded[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  pulumi.runtime.setAllConfig(encoded, secretKeys);
}

const byType = (type: string) => registrations.filter((r) => r.type === type);
const one = (type: string, nameIncludes: string): Registration => {
  const found = byType(type).filter((r) => r.name.includes(nameIncludes));
  expect(found, `${type} named *${nameIncludes}*`).to.have.length(1);
  return found[0]!;
};
const providerRegion = (r: Registration): string | undefined => {
  const id = r.provider.split("::").pop() ?? "";
  return providerRegions.get(id);
};
const doc = (json: unknown): PolicyDocument => JSON.parse(String(json)) as PolicyDocument;
const allows = (d: PolicyDocument) => d.Statement.filter((s) => s.Effect === "Allow");
const allowedActions = (d: PolicyDocument) =>
  allows(d)
    .flatMap((s) => s.Action)
    .sort();
const bySid = (d: PolicyDocument, sid: string): PolicyStatement => {
  const found = d.Statement.filter((s) => s.Sid === sid);
  expect(found, `statement ${sid}`).to.have.length(1);
  return found[0]!;
};
const statementFor = (d: PolicyDocument, action: string, effect = "Allow"): PolicyStatement => {
  const found = d.Statement.filter((s) => s.Effect === effect && s.Action.includes(action));
  expect(found, `${effect} statement for ${action}`).to.have.length(1);
  return found[0]!;
};

let estateModule: typeof import("../infra/estate");
let configModule: typeof import("../infra/config");
let errorsModule: typeof import("../actions/dkim-rotation/src/engine/errors");

async function buildEstate(config: EstateConfig, options?: EstateOptions): Promise<Estate> {
  registrations = [];
  const estate = estateModule.createEstate(config, options);
  await valueOf(pulumi.all([estate.plannerRoleArn, estate.kmsKeyArn, estate.dashboardName]));
  await settle();
  return estate;
}

function parse(values: Record<string, unknown>, opts?: Partial<ParseOptions>): EstateConfig {
  return configModule.parseEstateConfig(values, {
    file: STACK_FILE,
    project: PROJECT,
    defaultRegion: "ap-northeast-1",
    ...opts,
  });
}

const IDENTITY_ARNS_PROD = [
  `arn:aws:ses:ap-northeast-1:${ACCOUNT}:identity/mail.example.jp`,
  `arn:aws:ses:ap-northeast-3:${ACCOUNT}:identity/mail.example.jp`,
  `arn:aws:ses:ap-northeast-1:${ACCOUNT}:identity/news.example.jp`,
  `arn:aws:ses:ap-northeast-1:${ACCOUNT}:identity/example.co.jp`,
];
const SECRETS = `arn:aws:secretsmanager:ap-northeast-1:${ACCOUNT}:secret:dkim/*`;
const KEY_ARN = `arn:aws:kms:ap-northeast-1:${ACCOUNT}:key/key-vault-key_id`;
const VIA = "secretsmanager.ap-northeast-1.amazonaws.com";
const DOMAINS_PROD = ["mail.example.jp", "news.example.jp", "example.co.jp"];
const CREATION_TAGS = [
  "dkim:domain",
  "dkim:selector",
  "dkim:key-bits",
  "dkim:fingerprint",
  "dkim:created-at",
  "dkim:state",
  "dkim:key-origin",
];
const LIFECYCLE_TAGS = [
  "dkim:state",
  "dkim:activated-at",
  "dkim:retired-at",
  "dkim:recovery-days",
  "dkim:proof",
];
const NOTIFICATION_TOPIC = `arn:aws:sns:ap-northeast-1:${ACCOUNT}:ses-dkim-rotation-notifications`;

/** The explicit denies both roles carry (issue 12's list), each asserted as AWS will read it. */
function expectSharedDenies(policy: PolicyDocument) {
  expect(statementFor(policy, "secretsmanager:BatchGetSecretValue", "Deny").Resource).to.satisfy(
    (r: unknown) => r === "*",
  );
  const stayPut = statementFor(policy, "secretsmanager:ReplicateSecretToRegions", "Deny");
  expect(stayPut.Resource).to.equal(SECRETS);
  expect(stayPut.Action).to.have.members([
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:StopReplicationToReplica",
    "secretsmanager:RotateSecret",
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:RestoreSecret",
    "secretsmanager:UntagResource",
  ]);
  const deletes = policy.Statement.filter(
    (s) =>
      s.Effect === "Deny" &&
      s.Sid !== "PlannerNeverDeletesKeys" &&
      s.Action.includes("secretsmanager:DeleteSecret"),
  );
  expect(deletes.map((s) => s.Condition)).to.deep.equal([
    { Bool: { "secretsmanager:ForceDeleteWithoutRecovery": "true" } },
    { NumericLessThan: { "secretsmanager:RecoveryWindowInDays": 7 } },
  ]);
  // ForAllValues is true and ForAnyValue false when aws:TagKeys is absent: such a request is refused.
  const untagged = policy.Statement.filter((s) => s.Sid === "NoTaggingWithoutTagKeys");
  expect(untagged).to.have.length(1);
  expect(untagged[0]).to.deep.include({
    Effect: "Deny",
    Action: ["secretsmanager:TagResource"],
    Resource: SECRETS,
    Condition: { Null: { "aws:TagKeys": "true" } },
  });
  expect(statementFor(policy, "kms:GenerateDataKeyPair", "Deny").Action).to.have.members([
    "kms:GenerateDataKeyPair",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
    "kms:Encrypt",
  ]);
}

describe("Pulumi estate (infra/)", function () {
  before(async function () {
    // setMocks first: the program must never see a real engine.
    await pulumi.runtime.setMocks(mocks, PROJECT, STACK, false);
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource(req: RegisterResourceRequest, cb: Callback): void;
    };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
      pending++;
      registrations.push({
        type: req.getType(),
        name: req.getName(),
        inputs: pulumi.runtime.deserializeProperties(req.getObject()) as Record<string, unknown>,
        provider: req.getProvider(),
        ignoreChanges: req.getIgnorechangesList(),
        protect: req.getProtect(),
        custom: req.getCustom(),
        parent: req.getParent(),
        importId: req.getImportid(),
      });
      original(req, (err, res) => {
        pending--;
        cb(err, res);
      });
    };
    estateModule = await import("../infra/estate");
    configModule = await import("../infra/config");
    errorsModule = await import("../actions/dkim-rotation/src/engine/errors");
  });

  describe("the program (infra/index.ts) on Pulumi.prod.yaml", function () {
    let outputs: typeof import("../infra/index");

    before(async function () {
      registrations = [];
      setPulumiConfig(stackFileValues());
      outputs = await import("../infra/index");
      await valueOf(pulumi.all([outputs.plannerRoleArn, outputs.dashboardName]));
      await settle();
    });

    it("exports the role ARNs, topic ARN, KMS key ARN and dashboard name", async function () {
      expect(await valueOf(outputs.plannerRoleArn)).to.equal(
        `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-planner`,
      );
      expect(await valueOf(outputs.activatorRoleArn)).to.equal(
        `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-activator`,
      );
      expect(await valueOf(outputs.alertTopicArn)).to.equal(
        `arn:aws:sns:ap-northeast-1:${ACCOUNT}:ses-dkim-rotation-prod-alerts`,
      );
      expect(await valueOf(outputs.kmsKeyArn)).to.equal(KEY_ARN);
      expect(await valueOf(outputs.dashboardName)).to.equal("ses-dkim-rotation-prod");
    });

    it("creates one EmailIdentity per identity and Region, each through that Region's provider", function () {
      const identities = byType("aws:sesv2/emailIdentity:EmailIdentity").map((r) => [
        r.inputs.emailIdentity,
        providerRegion(r),
      ]);
      expect(identities).to.have.deep.members([
        ["mail.example.jp", "ap-northeast-1"],
        ["mail.example.jp", "ap-northeast-3"],
        ["news.example.jp", "ap-northeast-1"],
        ["example.co.jp", "ap-northeast-1"],
      ]);
    });

    it("leaves the DKIM signing attributes to the pipeline: ignoreChanges, and no key in the inputs", function () {
      const identities = byType("aws:sesv2/emailIdentity:EmailIdentity");
      expect(identities).to.have.length(4);
      for (const identity of identities) {
        expect(identity.ignoreChanges, identity.name).to.include("dkimSigningAttributes");
        expect(identity.inputs, identity.name).not.to.have.property("dkimSigningAttributes");
        expect(identity.protect, identity.name).to.equal(true);
        expect(identity.importId, identity.name).to.equal("");
      }
      // Nothing anywhere in the estate carries a private key into Pulumi state.
      const everything = JSON.stringify(registrations.map((r) => r.inputs));
      expect(everything).not.to.match(/domainSigningPrivateKey|PRIVATE KEY|MIIE[o-v]/);
      expect(
        byType("aws:sesv2/emailIdentityDkimSigningAttributes:EmailIdentityDkimSigningAttributes"),
      ).to.have.length(0);
    });

    it("gives every created identity a configuration set with reputation metrics, in the same Region", function () {
      for (const identity of byType("aws:sesv2/emailIdentity:EmailIdentity").filter(
        (r) => !r.importId,
      )) {
        const sets = byType("aws:sesv2/configurationSet:ConfigurationSet").filter(
          (s) =>
            s.inputs.configurationSetName === identity.inputs.configurationSetName &&
            providerRegion(s) === providerRegion(identity),
        );
        expect(sets, identity.name).to.have.length(1);
        expect(sets[0]!.inputs.reputationOptions).to.deep.equal({ reputationMetricsEnabled: true });
      }
    });

    it("trusts the planner only from main and the activator only from the environment", function () {
      const provider = one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github-oidc");
      expect(provider.inputs.url).to.equal("https://token.actions.githubusercontent.com");
      expect(provider.inputs.clientIdLists).to.deep.equal(["sts.amazonaws.com"]);
      const providerArn = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;

      const expected = {
        planner: "repo:example-jp/ses-dkim-rotation:ref:refs/heads/main",
        activator: "repo:example-jp/ses-dkim-rotation:environment:dkim-production",
        publisher: "repo:example-jp/ses-dkim-rotation:environment:dkim-dns",
      };
      for (const [role, subject] of Object.entries(expected)) {
        const trust = doc(one("aws:iam/role:Role", role).inputs.assumeRolePolicy);
        expect(trust.Statement, role).to.have.length(1);
        const [statement] = trust.Statement;
        expect(statement!.Effect).to.equal("Allow");
        expect(statement!.Action).to.deep.equal(["sts:AssumeRoleWithWebIdentity"]);
        expect(statement!.Principal).to.deep.equal({ Federated: providerArn });
        // Exact match only: no StringLike, so no wildcard can widen the subject.
        expect(statement!.Condition).to.deep.equal({
          StringEquals: {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subject,
          },
        });
      }
    });

    it("grants the planner creation under the project key, tags only at creation, wrapped key pairs and no read but KMS-wrapped values", function () {
      const policy = doc(one("aws:iam/rolePolicy:RolePolicy", "planner").inputs.policy);
      expect(allowedActions(policy)).to.deep.equal(
        [
          "cloudwatch:PutMetricData",
          "kms:Decrypt",
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:GenerateDataKey",
          "kms:GenerateDataKeyPairWithoutPlaintext",
          "secretsmanager:CreateSecret",
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:ListSecrets",
          "secretsmanager:TagResource",
          "secretsmanager:TagResource",
          "ses:GetEmailIdentity",
          "sns:Publish",
        ].sort(),
      );
      for (const action of allowedActions(policy)) expect(action).not.to.include("*");
      for (const forbidden of [
        "secretsmanager:BatchGetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:UntagResource",
        "kms:GenerateDataKeyPair",
        "ses:PutEmailIdentityDkimSigningAttributes",
      ]) {
        expect(allowedActions(policy)).not.to.include(forbidden);
      }
      // CreateSecret: only under the project key, only the creation tags, state pending, no replicas.
      const create = statementFor(policy, "secretsmanager:CreateSecret");
      expect(create.Resource).to.equal(SECRETS);
      expect(create.Condition).to.deep.equal({
        StringEquals: {
          "secretsmanager:KmsKeyArn": KEY_ARN,
          "aws:RequestTag/dkim:state": "pending",
          "aws:RequestTag/dkim:key-origin": ["kms", "local"],
        },
        "ForAllValues:StringEquals": { "aws:TagKeys": CREATION_TAGS },
        Null: { "secretsmanager:AddReplicaRegions": "true" },
      });
      // TagResource: the creation tags only on a secret without the lifecycle
      // tag (the one being created), the notification ledger only on an existing one.
      const tags = allows(policy).filter((s) => s.Action.includes("secretsmanager:TagResource"));
      expect(tags.map((t) => [t.Sid, t.Resource, t.Condition])).to.deep.equal([
        [
          "TagOnlyAtCreation",
          SECRETS,
          {
            Null: { "aws:ResourceTag/dkim:state": "true" },
            StringEquals: {
              "aws:RequestTag/dkim:state": "pending",
              "aws:RequestTag/dkim:key-origin": ["kms", "local"],
            },
            "ForAllValues:StringEquals": { "aws:TagKeys": CREATION_TAGS },
          },
        ],
        [
          "RecordNotificationsSent",
          SECRETS,
          {
            Null: { "aws:ResourceTag/dkim:state": "false", "aws:TagKeys": "false" },
            "ForAllValues:StringEquals": { "aws:TagKeys": ["dkim:notified"] },
          },
        ],
      ]);
      const retag = policy.Statement.filter(
        (s) =>
          s.Effect === "Deny" &&
          s.Action.includes("secretsmanager:TagResource") &&
          s.Sid !== "NoTaggingWithoutTagKeys",
      );
      expect(retag.map((s) => [s.Sid, s.Resource, s.Condition])).to.deep.equal([
        [
          "PlannerRetagsExistingKeysOnlyWithTheLedger",
          SECRETS,
          {
            Null: { "aws:ResourceTag/dkim:state": "false" },
            "ForAnyValue:StringNotEquals": { "aws:TagKeys": ["dkim:notified"] },
          },
        ],
      ]);
      expect(statementFor(policy, "sns:Publish").Resource).to.equal(NOTIFICATION_TOPIC);
      expect(statementFor(policy, "secretsmanager:ListSecrets").Resource).to.equal("*");
      expect(statementFor(policy, "secretsmanager:ListSecrets").Action).to.deep.equal([
        "secretsmanager:ListSecrets",
      ]);
      expect(statementFor(policy, "ses:GetEmailIdentity").Resource).to.have.members(
        IDENTITY_ARNS_PROD,
      );
      expect(statementFor(policy, "cloudwatch:PutMetricData").Condition).to.deep.equal({
        StringEquals: { "cloudwatch:namespace": "SesDkimRotation" },
      });
      const pairs = statementFor(policy, "kms:GenerateDataKeyPairWithoutPlaintext");
      expect(pairs.Resource).to.equal(KEY_ARN);
      expect(pairs.Condition).to.deep.equal({
        "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["domain", "selector"] },
        StringEquals: {
          "kms:EncryptionContext:domain": DOMAINS_PROD,
          "kms:DataKeyPairSpec": "RSA_2048",
        },
        Null: { "kms:EncryptionContext:selector": "false" },
      });
      expect(statementFor(policy, "kms:DescribeKey").Resource).to.equal(KEY_ARN);
      const generate = statementFor(policy, "kms:GenerateDataKey");
      expect(generate.Resource).to.equal(KEY_ARN);
      expect(generate.Condition).to.deep.equal({
        StringEquals: { "kms:ViaService": VIA },
        StringLike: { "kms:EncryptionContext:SecretARN": SECRETS },
      });
      // Decrypt for Secrets Manager's key-access validation on CreateSecret,
      // and the envelope of the KMS-wrapped values it reads (docs/design.md#key-origins).
      expect(bySid(policy, "DecryptWrappedValuesThroughSecretsManager").Condition).to.deep.equal({
        StringEquals: { "kms:ViaService": VIA },
        StringLike: { "kms:EncryptionContext:SecretARN": SECRETS },
      });
      expect(bySid(policy, "ReadWrappedKeyValues").Condition).to.deep.equal({
        StringEquals: { "aws:ResourceTag/dkim:key-origin": "kms" },
      });
      expect(bySid(policy, "ValidateKeyAccessOnCreate").Condition).to.deep.equal({
        StringEquals: {
          "kms:ViaService": VIA,
          "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess",
        },
      });
      // Decrypt is refused unless it is that probe, or SNS's data key for the notification topic.
      expect(statementFor(policy, "kms:Decrypt", "Deny").Condition).to.deep.equal({
        StringNotEquals: {
          "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess",
          "kms:EncryptionContext:aws:sns:topicArn": NOTIFICATION_TOPIC,
        },
        StringNotLike: { "kms:EncryptionContext:SecretARN": [SECRETS] },
      });
      // No publisher is configured: no Route 53 and no TSIG secret.
      expect(allowedActions(policy).filter((a) => a.startsWith("route53:"))).to.deep.equal([]);
      const noRead = bySid(policy, "PlannerReadsOnlyWrappedKeys");
      expect(noRead.Condition).to.deep.equal({
        StringNotEquals: { "aws:ResourceTag/dkim:key-origin": "kms" },
      });
      expect(bySid(policy, "PlannerNeverDeletesKeys").Action).to.deep.equal([
        "secretsmanager:DeleteSecret",
      ]);
      expect(bySid(policy, "PlannerNeverCreatesAdoptedKeys").Condition).to.deep.equal({
        StringNotEquals: { "aws:RequestTag/dkim:key-origin": ["kms", "local"] },
      });
      // It changes no DNS record and reads no secret outside the DKIM prefix (docs/design.md#publishers).
      expect(bySid(policy, "PlannerNeverPublishes")).to.deep.equal({
        Sid: "PlannerNeverPublishes",
        Effect: "Deny",
        Action: ["route53:ChangeResourceRecordSets"],
        Resource: "*",
      });
      expect(bySid(policy, "PlannerReadsNoOtherSecret")).to.deep.equal({
        Sid: "PlannerReadsNoOtherSecret",
        Effect: "Deny",
        Action: ["secretsmanager:GetSecretValue"],
        NotResource: SECRETS,
      });
      expectSharedDenies(policy);
    });

    it("grants the activator key reads, wrapped-key decrypts, lifecycle tags, scoped SES swaps and deletion only with a recovery window", function () {
      const policy = doc(one("aws:iam/rolePolicy:RolePolicy", "activator").inputs.policy);
      expect(allowedActions(policy)).to.deep.equal(
        [
          "kms:Decrypt",
          "kms:Decrypt",
          "secretsmanager:DeleteSecret",
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:ListSecrets",
          "secretsmanager:TagResource",
          "ses:GetEmailIdentity",
          "ses:PutEmailIdentityDkimSigningAttributes",
          "sns:Publish",
        ].sort(),
      );
      for (const action of allowedActions(policy)) expect(action).not.to.include("*");
      expect(statementFor(policy, "sns:Publish").Resource).to.equal(NOTIFICATION_TOPIC);
      expect(allowedActions(policy)).not.to.include.members([
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:CreateSecret",
        "kms:GenerateDataKeyPairWithoutPlaintext",
      ]);
      expect(statementFor(policy, "secretsmanager:GetSecretValue").Resource).to.equal(SECRETS);
      const tag = statementFor(policy, "secretsmanager:TagResource");
      expect(tag.Condition).to.deep.equal({
        Null: { "aws:ResourceTag/dkim:state": "false", "aws:TagKeys": "false" },
        "ForAllValues:StringEquals": { "aws:TagKeys": [...LIFECYCLE_TAGS, "dkim:notified"] },
      });
      const onlyThese = policy.Statement.filter(
        (s) => s.Sid === "ActivatorWritesOnlyLifecycleTags",
      );
      expect(onlyThese.map((s) => [s.Effect, s.Resource, s.Condition])).to.deep.equal([
        [
          "Deny",
          "*",
          {
            "ForAnyValue:StringNotEquals": { "aws:TagKeys": [...LIFECYCLE_TAGS, "dkim:notified"] },
          },
        ],
      ]);
      const swap = statementFor(policy, "ses:PutEmailIdentityDkimSigningAttributes");
      expect(swap.Resource).to.have.members(IDENTITY_ARNS_PROD);
      expect(swap.Action).to.have.members([
        "ses:GetEmailIdentity",
        "ses:PutEmailIdentityDkimSigningAttributes",
      ]);

      const del = statementFor(policy, "secretsmanager:DeleteSecret");
      expect(del.Resource).to.equal(SECRETS);
      expect(del.Condition).to.deep.equal({
        NumericGreaterThanEquals: { "secretsmanager:RecoveryWindowInDays": 7 },
      });
      const decrypts = allows(policy).filter((s) => s.Action.includes("kms:Decrypt"));
      expect(decrypts.map((s) => s.Condition)).to.deep.equal([
        {
          StringEquals: { "kms:ViaService": VIA },
          StringLike: { "kms:EncryptionContext:SecretARN": SECRETS },
        },
        {
          "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["domain", "selector"] },
          StringEquals: { "kms:EncryptionContext:domain": DOMAINS_PROD },
          Null: { "kms:EncryptionContext:selector": "false" },
        },
      ]);
      for (const d of decrypts) expect(d.Resource).to.equal(KEY_ARN);
      expect(statementFor(policy, "secretsmanager:CreateSecret", "Deny").Action).to.include(
        "kms:GenerateDataKeyPairWithoutPlaintext",
      );
      expectSharedDenies(policy);
    });

    it("allows '*' as a resource only where AWS has no resource type", function () {
      for (const policy of byType("aws:iam/rolePolicy:RolePolicy")) {
        for (const s of allows(doc(policy.inputs.policy))) {
          const resources = [s.Resource].flat();
          if (resources.includes("*")) {
            expect(s.Action, `${policy.name}/${s.Sid}`).to.satisfy((actions: string[]) =>
              actions.every(
                (a) => a === "secretsmanager:ListSecrets" || a === "cloudwatch:PutMetricData",
              ),
            );
          }
        }
      }
    });

    it("rotates the KMS key; only the planner makes wrapped pairs and only the activator decrypts them", function () {
      const key = one("aws:kms/key:Key", "key-vault");
      expect(key.inputs.enableKeyRotation).to.equal(true);
      expect(key.inputs.deletionWindowInDays).to.equal(30);
      expect(key.protect).to.equal(true);
      expect(providerRegion(key)).to.equal("ap-northeast-1");

      const policy = doc(key.inputs.policy);
      const root = `arn:aws:iam::${ACCOUNT}:root`;
      const planner = `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-planner`;
      const activator = `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-activator`;
      const crypto = /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt|CreateGrant|\*)/;
      for (const s of allows(policy)) {
        const principal = s.Principal?.AWS;
        if (principal === root) {
          expect(
            s.Action.filter((a) => crypto.test(a)),
            "root may not use the key",
          ).to.have.length(0);
          expect(s.Action).to.include("kms:Put*"); // still administrable: no lockout
          continue;
        }
        expect([planner, activator]).to.include(principal);
        if (s.Action.includes("kms:DescribeKey")) continue;
        expect(s.Condition?.StringEquals?.["kms:CallerAccount"], s.Sid).to.equal(ACCOUNT);
        // Through Secrets Manager, or directly with the wrapped key's context.
        const via = s.Condition?.StringEquals?.["kms:ViaService"] === VIA;
        const wrapped =
          JSON.stringify(s.Condition?.["ForAllValues:StringEquals"]) ===
          JSON.stringify({ "kms:EncryptionContextKeys": ["domain", "selector"] });
        expect(via || wrapped, s.Sid).to.equal(true);
        if (wrapped)
          expect(s.Condition?.StringEquals?.["kms:EncryptionContext:domain"]).to.deep.equal(
            DOMAINS_PROD,
          );
      }
      const actionsOf = (p: string) =>
        allows(policy)
          .filter((s) => s.Principal?.AWS === p)
          .flatMap((s) => s.Action)
          .sort();
      expect(actionsOf(planner)).to.deep.equal([
        "kms:Decrypt",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPairWithoutPlaintext",
      ]);
      expect(actionsOf(activator)).to.deep.equal(["kms:Decrypt", "kms:Decrypt"]);
      const deny = statementFor(policy, "kms:Decrypt", "Deny");
      expect(deny.Principal).to.deep.equal({ AWS: "*" });
      expect(deny.Condition).to.deep.equal({
        Null: { "kms:EncryptionContext:domain": "false" },
        ArnNotEquals: { "aws:PrincipalArn": activator },
      });

      const alias = one("aws:kms/alias:Alias", "key-vault");
      expect(alias.inputs.name).to.equal("alias/ses-dkim-rotation");
      expect(alias.inputs.targetKeyId).to.equal("key-vault-key_id");
    });

    it("alarms on expiry with missing data as breaching (the dead-man's switch)", function () {
      const expiry = byType("aws:cloudwatch/metricAlarm:MetricAlarm").filter(
        (a) => a.inputs.metricName === METRIC_DAYS_UNTIL_EXPIRY,
      );
      expect(expiry.map((a) => (a.inputs.dimensions as { Domain: string }).Domain)).to.have.members(
        ["mail.example.jp", "news.example.jp", "example.co.jp"],
      );
      for (const alarm of expiry) {
        expect(alarm.inputs).to.include({
          namespace: "SesDkimRotation",
          treatMissingData: "breaching",
          comparisonOperator: "LessThanThreshold",
          threshold: 30,
          statistic: "Minimum",
          period: 86400,
        });
        expect(providerRegion(alarm)).to.equal("ap-northeast-1");
        expect(alarm.inputs.alarmActions).to.deep.equal([
          `arn:aws:sns:ap-northeast-1:${ACCOUNT}:ses-dkim-rotation-prod-alerts`,
        ]);
      }
    });

    it("alarms on reputation in every identity Region, below SES's review thresholds", function () {
      const alarms = byType("aws:cloudwatch/metricAlarm:MetricAlarm");
      for (const region of ["ap-northeast-1", "ap-northeast-3"]) {
        const inRegion = alarms.filter((a) => providerRegion(a) === region);
        const bounce = inRegion.filter((a) => a.inputs.metricName === "Reputation.BounceRate");
        const complaint = inRegion.filter(
          (a) => a.inputs.metricName === "Reputation.ComplaintRate",
        );
        expect(bounce, region).to.have.length(1);
        expect(complaint, region).to.have.length(1);
        expect(bounce[0]!.inputs).to.include({
          namespace: "AWS/SES",
          threshold: 0.02,
          comparisonOperator: "GreaterThanOrEqualToThreshold",
        });
        expect(complaint[0]!.inputs).to.include({
          namespace: "AWS/SES",
          threshold: 0.0005,
          comparisonOperator: "GreaterThanOrEqualToThreshold",
        });
        // An alarm can only notify a topic in its own Region.
        for (const a of [...bounce, ...complaint]) {
          expect(a.inputs.alarmActions).to.deep.equal([
            `arn:aws:sns:${region}:${ACCOUNT}:ses-dkim-rotation-prod-alerts`,
          ]);
        }
      }
    });

    it("subscribes every alert address to the alert topic of every Region", function () {
      const topics = byType("aws:sns/topic:Topic").filter((t) => t.name.startsWith("monitoring-"));
      expect(topics.map(providerRegion)).to.have.members(["ap-northeast-1", "ap-northeast-3"]);
      const subscriptions = byType("aws:sns/topicSubscription:TopicSubscription").filter((s) =>
        String(s.inputs.topic).endsWith("-alerts"),
      );
      expect(
        subscriptions.map((s) => [s.inputs.topic, s.inputs.endpoint, s.inputs.protocol]),
      ).to.have.deep.members(
        ["ap-northeast-1", "ap-northeast-3"].flatMap((region) =>
          ["mail-platform@example.jp", "dns-team@example.jp"].map((email) => [
            `arn:aws:sns:${region}:${ACCOUNT}:ses-dkim-rotation-prod-alerts`,
            email,
            "email",
          ]),
        ),
      );
    });

    it("creates the notification topic in the default Region, each address filtered to its audience", async function () {
      const topic = one("aws:sns/topic:Topic", "notifications");
      expect(topic.inputs).to.include({
        name: "ses-dkim-rotation-notifications",
        kmsMasterKeyId: "alias/aws/sns",
      });
      expect(providerRegion(topic)).to.equal("ap-northeast-1");
      // The ARN the pipeline derives from the config alone is the topic's.
      expect(await valueOf(outputs.notificationTopicArn!)).to.equal(NOTIFICATION_TOPIC);
      expect(
        notificationTopicArn({
          partition: "aws",
          region: "ap-northeast-1",
          accountId: ACCOUNT,
          topicName: "ses-dkim-rotation-notifications",
        }),
      ).to.equal(NOTIFICATION_TOPIC);

      const subscriptions = byType("aws:sns/topicSubscription:TopicSubscription").filter(
        (s) => s.inputs.topic === NOTIFICATION_TOPIC,
      );
      expect(
        subscriptions.map((s) => [
          s.inputs.protocol,
          s.inputs.endpoint,
          s.inputs.filterPolicyScope,
          JSON.parse(String(s.inputs.filterPolicy)),
        ]),
      ).to.have.deep.members([
        ["email", "dns-team@example.jp", "MessageAttributes", { audience: ["dns-team"] }],
        [
          "email",
          "mail-platform-lead@example.jp",
          "MessageAttributes",
          { audience: ["escalation"] },
        ],
        ["email", "mail-platform@example.jp", "MessageAttributes", { audience: ["approvers"] }],
      ]);
      for (const s of subscriptions) expect(providerRegion(s)).to.equal("ap-northeast-1");
      // No Slack channel and no webhook unless configured.
      expect(
        byType("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"),
      ).to.have.length(0);

      // Only the two roles publish: an allow for them, a deny for every other principal, TLS only.
      const topicPolicy = one("aws:sns/topicPolicy:TopicPolicy", "notifications");
      expect(topicPolicy.inputs.arn).to.equal(NOTIFICATION_TOPIC);
      const roles = [
        `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-planner`,
        `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-activator`,
      ];
      expect(doc(topicPolicy.inputs.policy).Statement).to.deep.equal([
        {
          Sid: "PipelineRolesPublish",
          Effect: "Allow",
          Principal: { AWS: roles },
          Action: ["sns:Publish"],
          Resource: NOTIFICATION_TOPIC,
        },
        {
          Sid: "NobodyElsePublishes",
          Effect: "Deny",
          Principal: { AWS: "*" },
          Action: ["sns:Publish"],
          Resource: NOTIFICATION_TOPIC,
          Condition: { ArnNotEquals: { "aws:PrincipalArn": roles } },
        },
        {
          Sid: "PublishOverTlsOnly",
          Effect: "Deny",
          Principal: { AWS: "*" },
          Action: ["sns:Publish"],
          Resource: NOTIFICATION_TOPIC,
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ]);
    });

    it("puts every alarm and metric on the dashboard", function () {
      const dashboard = one("aws:cloudwatch/dashboard:Dashboard", "monitoring");
      const body = String(dashboard.inputs.dashboardBody);
      const alarms = byType("aws:cloudwatch/metricAlarm:MetricAlarm");
      expect(alarms).to.have.length(3 * 3 + 2 * 2);
      for (const alarm of alarms) {
        const arn = `alarm:${String(alarm.inputs.name)}`;
        expect(body).to.include(arn);
      }
      for (const metric of [
        METRIC_DAYS_UNTIL_EXPIRY,
        METRIC_DKIM_STATUS_NOT_SUCCESS,
        METRIC_PENDING_PUBLICATION_DAYS,
        "Reputation.BounceRate",
        "Reputation.ComplaintRate",
      ]) {
        expect(body).to.include(`"${metric}"`);
      }
    });

    it("manages no GitHub resources when github.manageRepository is false", function () {
      expect(registrations.filter((r) => r.type.startsWith("github:"))).to.have.length(0);
      expect(registrations.filter((r) => r.type === "pulumi:providers:github")).to.have.length(0);
    });

    it("registers every resource except the providers under one of the components", function () {
      const components = registrations.filter((r) => !r.custom && r.type.startsWith(`${PROJECT}:`));
      expect(new Set(components.map((c) => c.type))).to.deep.equal(
        new Set([
          "ses-dkim-rotation:index:SesIdentity",
          "ses-dkim-rotation:index:KeyVault",
          "ses-dkim-rotation:index:GithubOidc",
          "ses-dkim-rotation:index:RolePermissions",
          "ses-dkim-rotation:index:Monitoring",
          "ses-dkim-rotation:index:Notifications",
        ]),
      );
      const resources = registrations.filter((r) => r.custom && r.type !== "pulumi:providers:aws");
      expect(resources.length).to.be.greaterThan(30);
      for (const resource of resources) {
        expect(resource.parent, `${resource.type} ${resource.name}`).to.match(
          /ses-dkim-rotation:index:(SesIdentity|KeyVault|GithubOidc|RolePermissions|Monitoring|Notifications)/,
        );
      }
    });
  });

  describe("createEstate with other configs", function () {
    it("canary: the bucket (SSE-KMS, expiry, SES-only policy for this account and rule), the active rule set, and the activator's least-privilege grants", async function () {
      await buildEstate(
        parse({
          ...baseValues(),
          canary: {
            region: "us-east-1",
            bucket: "dkim-proof-example",
            address: "canary@proof.example.net",
          },
        }),
        { namePrefix: "tc" },
      );
      const bucketPolicy = doc(one("aws:s3/bucketPolicy:BucketPolicy", "canary").inputs.policy);
      const put = bucketPolicy.Statement[0]!;
      expect(put.Principal).to.deep.equal({ Service: "ses.amazonaws.com" });
      expect(put.Action).to.equal("s3:PutObject");
      expect(put.Resource).to.equal("arn:aws:s3:::dkim-proof-example/canary/*");
      expect(put.Condition).to.deep.equal({
        StringEquals: { "aws:SourceAccount": ACCOUNT },
        ArnLike: {
          "aws:SourceArn": `arn:aws:ses:us-east-1:${ACCOUNT}:receipt-rule-set/ses-dkim-rotation:receipt-rule/dkim-canary`,
        },
      });
      const sse = one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "canary",
      );
      expect(
        (sse.inputs.rules as { applyServerSideEncryptionByDefault: { sseAlgorithm: string } }[])[0]!
          .applyServerSideEncryptionByDefault.sseAlgorithm,
      ).to.equal("aws:kms");
      const expiry = one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "canary",
      );
      expect(
        (expiry.inputs.rules as { expiration: { days: number } }[])[0]!.expiration.days,
      ).to.be.within(1, 7);
      const rule = one("aws:ses/receiptRule:ReceiptRule", "canary");
      expect(rule.inputs.recipients).to.deep.equal(["canary@proof.example.net"]);
      expect(providerRegion(rule)).to.equal("us-east-1");
      expect(byType("aws:ses/activeReceiptRuleSet:ActiveReceiptRuleSet")).to.have.length(1);
      const activator = doc(one("aws:iam/rolePolicy:RolePolicy", "activator").inputs.policy);
      expect(bySid(activator, "ReadAndDeleteCanaries").Resource).to.equal(
        "arn:aws:s3:::dkim-proof-example/canary/*",
      );
      expect(bySid(activator, "SendCanaries").Action).to.deep.equal(["ses:SendEmail"]);
      const planner = doc(one("aws:iam/rolePolicy:RolePolicy", "planner").inputs.policy);
      expect(allowedActions(planner).filter((a) => a.startsWith("s3:"))).to.deep.equal([]);
      expect(bySid(planner, "PlannerReadsNoCanaryMail").Effect).to.equal("Deny");
    });

    it("dmarcReports with ruaAddress: the rua rule joins the canary's active rule set, the bucket policy and KMS key admit it on its own prefix, the reports role decrypts through S3 only", async function () {
      await buildEstate(
        parse({
          ...baseValues(),
          canary: {
            region: "us-east-1",
            bucket: "dkim-proof-example",
            address: "canary@proof.example.net",
          },
          dmarcReports: {
            region: "us-east-1",
            bucket: "dkim-proof-example",
            prefix: "dmarc/",
            ruaAddress: "dmarc@reports.example.jp",
          },
        }),
        { namePrefix: "tr" },
      );
      const rules = byType("aws:ses/receiptRule:ReceiptRule");
      const rua = rules.find(
        (r) => (r.inputs.recipients as string[])[0] === "dmarc@reports.example.jp",
      )!;
      expect(rua.inputs.ruleSetName).to.equal("ses-dkim-rotation");
      expect(rua.inputs.name).to.equal("tr-dmarc-rua");
      expect(byType("aws:ses/activeReceiptRuleSet:ActiveReceiptRuleSet")).to.have.length(1);
      const bucketPolicy = doc(one("aws:s3/bucketPolicy:BucketPolicy", "canary").inputs.policy);
      const grant = bucketPolicy.Statement.find(
        (st) => st.Resource === "arn:aws:s3:::dkim-proof-example/dmarc/*",
      );
      expect(grant?.Condition).to.deep.equal({
        StringEquals: { "aws:SourceAccount": ACCOUNT },
        ArnLike: {
          "aws:SourceArn": `arn:aws:ses:us-east-1:${ACCOUNT}:receipt-rule-set/ses-dkim-rotation:receipt-rule/tr-dmarc-rua`,
        },
      });
      const key = doc(one("aws:kms/key:Key", "canary").inputs.policy);
      expect(bySid(key, "SesEncryptsForTheCanaryRule").Condition).to.deep.include({
        ArnLike: {
          "aws:SourceArn": [
            `arn:aws:ses:us-east-1:${ACCOUNT}:receipt-rule-set/ses-dkim-rotation:receipt-rule/dkim-canary`,
            `arn:aws:ses:us-east-1:${ACCOUNT}:receipt-rule-set/ses-dkim-rotation:receipt-rule/tr-dmarc-rua`,
          ],
        },
      });
      const reports = doc(one("aws:iam/rolePolicy:RolePolicy", "dmarc-reports").inputs.policy);
      expect(bySid(reports, "ReportsKeyThroughS3Only").Condition).to.deep.equal({
        StringEquals: { "kms:ViaService": "s3.us-east-1.amazonaws.com" },
      });
    });

    const baseValues = () => projectValues(stackFileValues());

    it("derives alarm thresholds from each identity's alertDays and dnsLeadDays", async function () {
      const values = baseValues();
      values.identities = [
        { domain: "a.example.jp", selectorPrefix: "a", alertDays: 45, dnsLeadDays: 10 },
        { domain: "b.example.jp", selectorPrefix: "b", alertDays: 20, dnsLeadDays: 28 },
      ];
      values.metricsNamespace = "Custom/Dkim";
      await buildEstate(parse(values), { namePrefix: "t1" });
      const alarms = byType("aws:cloudwatch/metricAlarm:MetricAlarm");
      const find = (metric: string, domain: string) =>
        alarms.find(
          (a) =>
            a.inputs.metricName === metric &&
            (a.inputs.dimensions as Record<string, string> | undefined)?.Domain === domain,
        )!;
      expect(find(METRIC_DAYS_UNTIL_EXPIRY, "a.example.jp").inputs.threshold).to.equal(45);
      expect(find(METRIC_DAYS_UNTIL_EXPIRY, "b.example.jp").inputs.threshold).to.equal(20);
      expect(find(METRIC_PENDING_PUBLICATION_DAYS, "a.example.jp").inputs).to.include({
        threshold: 17,
        comparisonOperator: "GreaterThanThreshold",
      });
      expect(find(METRIC_PENDING_PUBLICATION_DAYS, "b.example.jp").inputs.threshold).to.equal(35);
      expect(find(METRIC_DKIM_STATUS_NOT_SUCCESS, "a.example.jp").inputs).to.include({
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
      });
      for (const alarm of alarms.filter((a) => a.inputs.namespace !== "AWS/SES")) {
        expect(alarm.inputs.namespace).to.equal("Custom/Dkim");
      }
      const planner = doc(one("aws:iam/rolePolicy:RolePolicy", "planner").inputs.policy);
      expect(statementFor(planner, "cloudwatch:PutMetricData").Condition).to.deep.equal({
        StringEquals: { "cloudwatch:namespace": "Custom/Dkim" },
      });
    });

    it("creates no notification topic, no Publish grant and no ledger tag without notifications", async function () {
      const values = baseValues();
      delete values.notifications;
      const estate = await buildEstate(parse(values), { namePrefix: "t-quiet" });
      expect(estate.notifications).to.equal(undefined);
      expect(estate.notificationTopicArn).to.equal(undefined);
      expect(byType("aws:sns/topic:Topic").map((t) => t.name)).to.have.members([
        "monitoring-alerts-ap-northeast-1",
        "monitoring-alerts-ap-northeast-3",
      ]);
      expect(byType("aws:sns/topicPolicy:TopicPolicy")).to.have.length(0);
      expect(registrations.filter((r) => r.type.includes("Notifications"))).to.have.length(0);
      const planner = doc(one("aws:iam/rolePolicy:RolePolicy", "planner").inputs.policy);
      const activator = doc(one("aws:iam/rolePolicy:RolePolicy", "activator").inputs.policy);
      for (const policy of [planner, activator])
        expect(allowedActions(policy)).not.to.include("sns:Publish");
      // The planner may not retag an existing key at all, the activator only with lifecycle tags.
      expect(statementFor(planner, "secretsmanager:TagResource").Sid).to.equal("TagOnlyAtCreation");
      const retag = planner.Statement.find((s) => s.Sid === "PlannerNeverRetagsExistingKeys");
      expect(retag?.Condition).to.deep.equal({ Null: { "aws:ResourceTag/dkim:state": "false" } });
      expect(statementFor(activator, "secretsmanager:TagResource").Condition).to.deep.equal({
        Null: { "aws:ResourceTag/dkim:state": "false", "aws:TagKeys": "false" },
        "ForAllValues:StringEquals": { "aws:TagKeys": LIFECYCLE_TAGS },
      });
      expect(statementFor(planner, "kms:Decrypt", "Deny").Condition).to.deep.equal({
        StringNotEquals: { "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess" },
        StringNotLike: { "kms:EncryptionContext:SecretARN": [SECRETS] },
      });
    });

    it("relays every notification to Slack through Chatbot (deny-all guardrail) and to a webhook from a secret", async function () {
      const values = baseValues();
      values.notifications = {
        topicName: "dkim-news",
        dnsTeamEmails: ["dns@example.jp"],
        chatbot: { slackTeamId: "T07EA123LEP", slackChannelId: "C07EZ1ABC23" },
      };
      const webhook = "https://hooks.example.jp/services/T0/B0/secret-token";
      await buildEstate(
        { ...parse(values), notificationWebhookUrl: pulumi.secret(webhook) },
        { namePrefix: "t-chat" },
      );
      const topicArn = `arn:aws:sns:ap-northeast-1:${ACCOUNT}:dkim-news`;
      const slack = one(
        "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration",
        "notifications",
      );
      expect(slack.inputs).to.deep.include({
        slackTeamId: "T07EA123LEP",
        slackChannelId: "C07EZ1ABC23",
        snsTopicArns: [topicArn],
        guardrailPolicyArns: ["arn:aws:iam::aws:policy/AWSDenyAll"],
        iamRoleArn: `arn:aws:iam::${ACCOUNT}:role/t-chat-chatbot`,
      });
      // Chatbot's role: assumable by Chatbot only, with no permission of its own.
      const role = one("aws:iam/role:Role", "chatbot");
      expect(doc(role.inputs.assumeRolePolicy).Statement).to.deep.equal([
        {
          Effect: "Allow",
          Principal: { Service: "chatbot.amazonaws.com" },
          Action: "sts:AssumeRole",
        },
      ]);
      expect(byType("aws:iam/rolePolicy:RolePolicy").map((p) => p.inputs.role)).not.to.include(
        "t-chat-chatbot",
      );
      expect(byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")).to.have.length(0);

      const subscriptions = byType("aws:sns/topicSubscription:TopicSubscription").filter(
        (s) => s.inputs.topic === topicArn,
      );
      expect(subscriptions.map((s) => s.inputs.protocol)).to.have.members(["email", "https"]);
      const hook = subscriptions.find((s) => s.inputs.protocol === "https")!;
      // It reaches the engine as a secret (state and previews show it masked).
      expect(hook.inputs.endpoint).to.deep.equal({
        [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
        value: webhook,
      });
      // Every message: no filter policy on the webhook.
      expect(hook.inputs).not.to.have.property("filterPolicy");
      // The URL never appears outside the subscription's (secret) endpoint.
      const elsewhere = registrations.filter((r) => r !== hook);
      expect(JSON.stringify(elsewhere.map((r) => r.inputs))).not.to.include("secret-token");
      const planner = doc(one("aws:iam/rolePolicy:RolePolicy", "planner").inputs.policy);
      expect(statementFor(planner, "sns:Publish").Resource).to.equal(topicArn);
    });

    it("grants the publisher CREATE and the activator DELETE in the configured zones, both the TSIG secrets, the planner neither", async function () {
      const values = baseValues();
      values.identities = [
        {
          domain: "a.example.jp",
          selectorPrefix: "a",
          publisher: "rfc2136",
          rfc2136: {
            server: "ns1.example.jp",
            keyName: "dkim-rotation.",
            secretName: "ses-dkim-rotation/tsig/a.example.jp",
          },
        },
        {
          domain: "b.example.jp",
          selectorPrefix: "b",
          publisher: "route53",
          route53: { hostedZoneId: "Z0123456789ABCDEFGHIJ" },
        },
        {
          domain: "c.example.jp",
          selectorPrefix: "c",
          publisher: "route53",
          route53: { hostedZoneId: "Z0123456789ABCDEFGHIJ" },
        },
        {
          domain: "d.example.co.jp",
          selectorPrefix: "d",
          publisher: "route53",
          route53: { hostedZoneId: "ZSECONDZONE000000000" },
        },
        { domain: "manual.example.jp", selectorPrefix: "m" },
      ];
      await buildEstate(parse(values), { namePrefix: "t-pub" });
      const planner = doc(one("aws:iam/rolePolicy:RolePolicy", "planner").inputs.policy);
      const activator = doc(one("aws:iam/rolePolicy:RolePolicy", "activator").inputs.policy);
      const publisher = doc(one("aws:iam/rolePolicy:RolePolicy", "publisher").inputs.policy);

      const tsig = `arn:aws:secretsmanager:ap-northeast-1:${ACCOUNT}:secret:ses-dkim-rotation/tsig/a.example.jp-??????`;
      for (const role of [publisher, activator])
        expect(
          role.Statement.find((s) => s.Sid === "ReadTsigSecrets"),
          "TSIG read",
        ).to.deep.equal({
          Sid: "ReadTsigSecrets",
          Effect: "Allow",
          Action: ["secretsmanager:GetSecretValue"],
          Resource: [tsig],
        });
      // The planner: no TSIG read, no DNS change, no Decrypt exception for the TSIG secrets.
      expect(planner.Statement.find((s) => s.Sid === "ReadTsigSecrets")).to.equal(undefined);
      // The DKIM keys stay unreadable but for KMS-wrapped values (ciphertext).
      const noRead = bySid(planner, "PlannerReadsOnlyWrappedKeys");
      expect(noRead.Resource).to.equal(SECRETS);
      expect(allowedActions(planner).filter((a) => a.startsWith("route53:"))).to.deep.equal([]);
      expect(statementFor(planner, "kms:Decrypt", "Deny").Condition).to.deep.equal({
        StringNotEquals: {
          "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess",
          "kms:EncryptionContext:aws:sns:topicArn": NOTIFICATION_TOPIC,
        },
        StringNotLike: { "kms:EncryptionContext:SecretARN": [SECRETS] },
      });

      const names = "route53:ChangeResourceRecordSetsNormalizedRecordNames";
      const types = "route53:ChangeResourceRecordSetsRecordTypes";
      const actions = "route53:ChangeResourceRecordSetsActions";
      for (const [role, action] of [
        [publisher, "CREATE"],
        [activator, "DELETE"],
      ] as const) {
        const changes = allows(role).filter((s) =>
          s.Action.includes("route53:ChangeResourceRecordSets"),
        );
        expect(changes.map((s) => [s.Resource, s.Condition])).to.deep.equal(
          [
            ["Z0123456789ABCDEFGHIJ", ["*._domainkey.b.example.jp", "*._domainkey.c.example.jp"]],
            ["ZSECONDZONE000000000", ["*._domainkey.d.example.co.jp"]],
          ].map(([zone, patterns]) => [
            `arn:aws:route53:::hostedzone/${String(zone)}`,
            {
              "ForAllValues:StringEquals": { [types]: ["TXT"], [actions]: [action] },
              "ForAllValues:StringLike": { [names]: patterns },
              Null: { [types]: "false", [actions]: "false", [names]: "false" },
            },
          ]),
        );
        for (const s of changes)
          expect(s.Action).to.deep.equal(["route53:ChangeResourceRecordSets"]);
        expect(statementFor(role, "route53:ListResourceRecordSets").Resource).to.deep.equal([
          "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ",
          "arn:aws:route53:::hostedzone/ZSECONDZONE000000000",
        ]);
        expect(statementFor(role, "route53:GetChange").Resource).to.equal(
          "arn:aws:route53:::change/*",
        );
        // Any other change action in a batch is refused explicitly.
        expect(
          statementFor(role, "route53:ChangeResourceRecordSets", "Deny").Condition,
        ).to.deep.equal({ "ForAnyValue:StringNotEquals": { [actions]: [action] } });
      }
    });

    it("reuses an existing OIDC provider by ARN instead of creating one", async function () {
      const existing = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
      await buildEstate(parse({ ...baseValues(), existingOidcProviderArn: existing }), {
        namePrefix: "t2",
      });
      expect(byType("aws:iam/openIdConnectProvider:OpenIdConnectProvider")).to.have.length(0);
      for (const role of byType("aws:iam/role:Role")) {
        expect(doc(role.inputs.assumeRolePolicy).Statement[0]!.Principal).to.deep.equal({
          Federated: existing,
        });
      }
    });

    const subjectsOf = () =>
      Object.fromEntries(
        ["planner", "activator", "publisher"].map((role) => {
          const trust = doc(one("aws:iam/role:Role", role).inputs.assumeRolePolicy);
          expect(trust.Statement, role).to.have.length(1);
          const cond = trust.Statement[0]!.Condition as Record<string, Record<string, unknown>>;
          // One exact subject: no StringLike, no list of both forms.
          expect(Object.keys(cond), role).to.deep.equal(["StringEquals"]);
          return [role, cond.StringEquals!["token.actions.githubusercontent.com:sub"]];
        }),
      );

    it("trusts only the immutable subject form when githubOwnerId and githubRepositoryId are set", async function () {
      await buildEstate(
        parse({ ...baseValues(), githubOwnerId: 4200001, githubRepositoryId: 987654321 }),
        { namePrefix: "t-ids" },
      );
      expect(subjectsOf()).to.deep.equal({
        planner: "repo:example-jp@4200001/ses-dkim-rotation@987654321:ref:refs/heads/main",
        activator:
          "repo:example-jp@4200001/ses-dkim-rotation@987654321:environment:dkim-production",
        publisher: "repo:example-jp@4200001/ses-dkim-rotation@987654321:environment:dkim-dns",
      });
      const activator = one("aws:iam/role:Role", "activator");
      expect(activator.inputs.maxSessionDuration).to.equal(7200);
      // The daily plan's 100-minute job asks for a 110-minute session.
      expect(one("aws:iam/role:Role", "planner").inputs.maxSessionDuration).to.equal(7200);
    });

    it("trusts only the name form without the IDs", async function () {
      await buildEstate(parse(baseValues()), { namePrefix: "t-names" });
      expect(subjectsOf()).to.deep.equal({
        planner: "repo:example-jp/ses-dkim-rotation:ref:refs/heads/main",
        activator: "repo:example-jp/ses-dkim-rotation:environment:dkim-production",
        publisher: "repo:example-jp/ses-dkim-rotation:environment:dkim-dns",
      });
    });

    it("reads the immutable IDs through @pulumi/github when it manages the repository", async function () {
      const values = baseValues();
      values.github = {
        ...(values.github as object),
        manageRepository: true,
        appId: 9001,
        reviewers: { users: [101], teams: [] },
      };
      await buildEstate(parse(values), { namePrefix: "t-managed" });
      expect(subjectsOf().activator).to.equal(
        "repo:example-jp@4200001/ses-dkim-rotation@987654321:environment:dkim-production",
      );
    });

    it("refuses one immutable ID without the other", function () {
      expect(() => parse({ ...baseValues(), githubOwnerId: 4200001 })).to.throw(
        /githubRepositoryId: is missing while the other immutable ID is set/,
      );
    });

    it("manages the gated environment, main-only branch policy and role variables when asked", async function () {
      const values = baseValues();
      values.github = {
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        environment: "dkim-production",
        manageRepository: true,
        appId: 9001,
        reviewers: { users: [101], teams: [4242] },
      };
      const estate = await buildEstate(parse(values), { namePrefix: "t3" });
      const environment = one(
        "github:index/repositoryEnvironment:RepositoryEnvironment",
        "github-repository-environment",
      );
      expect(environment.inputs).to.deep.include({
        repository: "ses-dkim-rotation",
        environment: "dkim-production",
        preventSelfReview: true,
        canAdminsBypass: false,
        reviewers: [{ users: [101], teams: [4242] }],
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      });
      const branchPolicy = one(
        "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
        "repository-main-only",
      );
      expect(branchPolicy.inputs).to.include({
        branchPattern: "main",
        environment: "dkim-production",
      });
      expect(branchPolicy.inputs).not.to.have.property("tagPattern");
      // The publish job's environment: no reviewers, main only (the publisher role trusts it alone).
      const publisherEnvironment = one(
        "github:index/repositoryEnvironment:RepositoryEnvironment",
        "publisher-environment",
      );
      expect(publisherEnvironment.inputs).to.deep.include({
        repository: "ses-dkim-rotation",
        environment: "dkim-dns",
        canAdminsBypass: false,
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      });
      expect(publisherEnvironment.inputs).not.to.have.property("reviewers");
      expect(
        one(
          "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
          "publisher-main-only",
        ).inputs,
      ).to.deep.include({ branchPattern: "main", environment: "dkim-dns" });

      const variables = Object.fromEntries(
        byType("github:index/actionsVariable:ActionsVariable").map((v) => [
          v.inputs.variableName,
          v.inputs.value,
        ]),
      );
      expect(variables).to.deep.equal({
        AWS_PLANNER_ROLE_ARN: await valueOf(estate.plannerRoleArn),
        AWS_ACTIVATOR_ROLE_ARN: await valueOf(estate.activatorRoleArn),
        AWS_PUBLISHER_ROLE_ARN: await valueOf(estate.publisherRoleArn),
        AWS_REGION: "ap-northeast-1",
      });
      expect(one("pulumi:providers:github", "github").inputs.owner).to.equal("example-jp");

      // Record branches: only the App (docs/design.md#bot-branches).
      const rulesets = byType("github:index/repositoryRuleset:RepositoryRuleset");
      const bot = rulesets.find((r) => r.name.endsWith("-record-branches"))!;
      expect(bot.inputs).to.deep.include({
        repository: "ses-dkim-rotation",
        target: "branch",
        enforcement: "active",
        conditions: {
          refName: {
            includes: [
              "refs/heads/dkim/**/*",
              "refs/heads/dkim-retire/**/*",
              "refs/heads/dkim-batch/**/*",
            ],
            excludes: [],
          },
        },
        rules: { creation: true, update: true, deletion: true },
        bypassActors: [{ actorId: 9001, actorType: "Integration", bypassMode: "always" }],
      });
      const main = rulesets.find((r) => r.name.endsWith("-default-branch"))!;
      expect(main.inputs.conditions).to.deep.equal({
        refName: { includes: ["~DEFAULT_BRANCH"], excludes: [] },
      });
      expect(main.inputs.rules).to.deep.equal({
        pullRequest: {
          requiredApprovingReviewCount: 1,
          dismissStaleReviewsOnPush: true,
          requireLastPushApproval: true,
          requireCodeOwnerReview: true,
          requiredReviewThreadResolution: false,
        },
      });
      expect(main.inputs.bypassActors).to.deep.equal([]);
    });

    it("in pull-request mode: an environment without reviewers (main only), the request branches restricted, the required approvals on the default branch", async function () {
      const values = baseValues();
      values.github = {
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        environment: "dkim-production",
        manageRepository: true,
        appId: 9001,
        approval: "pull-request",
        requiredApprovals: 3,
      };
      await buildEstate(parse(values), { namePrefix: "t3pr" });
      const environment = one(
        "github:index/repositoryEnvironment:RepositoryEnvironment",
        "github-repository-environment",
      );
      expect(environment.inputs).not.to.have.property("reviewers");
      expect(environment.inputs).to.deep.include({
        canAdminsBypass: false,
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      });
      expect(
        one(
          "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
          "repository-main-only",
        ).inputs,
      ).to.include({ branchPattern: "main", environment: "dkim-production" });
      const rulesets = byType("github:index/repositoryRuleset:RepositoryRuleset");
      const bot = rulesets.find((r) => r.name.endsWith("-record-branches"))!;
      expect(bot.inputs.conditions).to.deep.equal({
        refName: {
          includes: [
            "refs/heads/dkim/**/*",
            "refs/heads/dkim-retire/**/*",
            "refs/heads/dkim-batch/**/*",
            "refs/heads/dkim-approval/**/*",
          ],
          excludes: [],
        },
      });
      expect(bot.inputs.bypassActors).to.deep.equal([
        { actorId: 9001, actorType: "Integration", bypassMode: "always" },
      ]);
      const main = rulesets.find((r) => r.name.endsWith("-default-branch"))!;
      expect(main.inputs.rules).to.deep.equal({
        pullRequest: {
          requiredApprovingReviewCount: 3,
          dismissStaleReviewsOnPush: true,
          requireLastPushApproval: true,
          requireCodeOwnerReview: true,
          requiredReviewThreadResolution: false,
        },
      });
      expect(main.inputs.bypassActors).to.deep.equal([]);
    });

    it("refuses manageRepository without the App's id (the record branches would lock the bot out)", function () {
      const values = baseValues();
      values.github = {
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        manageRepository: true,
        reviewers: { users: [101], teams: [] },
      };
      expect(() => parse(values)).to.throw(
        /github\.appId: is missing, so the record-branch ruleset/,
      );
    });

    it("keeps release tags from moving: a tag ruleset on v* restricts updates and deletions, with no bypass", async function () {
      const values = baseValues();
      values.github = {
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        environment: "dkim-production",
        manageRepository: true,
        reviewers: { users: [101], teams: [] },
        appId: 4242,
      };
      await buildEstate(parse(values), { namePrefix: "t3tags" });
      const ruleset = one("github:index/repositoryRuleset:RepositoryRuleset", "release-tags");
      expect(ruleset.inputs).to.deep.include({
        repository: "ses-dkim-rotation",
        target: "tag",
        enforcement: "active",
        conditions: { refName: { includes: ["refs/tags/v*"], excludes: [] } },
        rules: { update: true, deletion: true, nonFastForward: true },
        bypassActors: [],
      });
    });

    it("adopts existing SES identities with the import option instead of creating them", async function () {
      const values = baseValues();
      values.adoptIdentities = ["mail.example.jp@ap-northeast-3", "example.co.jp"];
      await buildEstate(parse(values), { namePrefix: "t5" });
      const imports = byType("aws:sesv2/emailIdentity:EmailIdentity").map((r) => [
        r.inputs.emailIdentity,
        providerRegion(r),
        r.importId,
      ]);
      expect(imports).to.have.deep.members([
        ["mail.example.jp", "ap-northeast-1", ""],
        ["mail.example.jp", "ap-northeast-3", "mail.example.jp"],
        ["news.example.jp", "ap-northeast-1", ""],
        ["example.co.jp", "ap-northeast-1", "example.co.jp"],
      ]);
      for (const identity of byType("aws:sesv2/emailIdentity:EmailIdentity")) {
        expect(identity.ignoreChanges).to.include("dkimSigningAttributes");
      }
    });

    it("an imported identity keeps its own configuration set and every attribute it does not own", async function () {
      const values = baseValues();
      values.adoptIdentities = ["example.co.jp"];
      const estate = await buildEstate(parse(values), { namePrefix: "t6" });
      const imported = byType("aws:sesv2/emailIdentity:EmailIdentity").filter((r) => r.importId);
      expect(imported.map((r) => r.inputs.emailIdentity)).to.deep.equal(["example.co.jp"]);
      const [identity] = imported;
      // Nothing the import would change: no new set attached, no tags, no MAIL FROM.
      expect(identity!.inputs).to.deep.equal({ emailIdentity: "example.co.jp" });
      expect(identity!.ignoreChanges).to.include.members([
        "dkimSigningAttributes",
        "configurationSetName",
        "tags",
        "mailFromAttributes",
      ]);
      // No configuration set is created for it; the others still get theirs.
      const sets = byType("aws:sesv2/configurationSet:ConfigurationSet");
      expect(sets.map((s) => String(s.inputs.configurationSetName))).to.not.include(
        "dkim-example-co-jp",
      );
      expect(sets.length).to.equal(byType("aws:sesv2/emailIdentity:EmailIdentity").length - 1);
      const component = estate.identities.find((i) => i.domain === "example.co.jp")!;
      expect(await valueOf(component.configurationSetName)).to.equal("legacy-events");
    });

    it("scopes identity ARNs and the KMS Region to the stack's home Region and partition", async function () {
      const values = baseValues();
      values.identities = [
        { domain: "eu.example.jp", selectorPrefix: "eu", regions: ["eu-west-1", "eu-central-1"] },
      ];
      await buildEstate(parse(values, { defaultRegion: "eu-west-1" }), { namePrefix: "t4" });
      const activator = doc(one("aws:iam/rolePolicy:RolePolicy", "activator").inputs.policy);
      expect(
        statementFor(activator, "ses:PutEmailIdentityDkimSigningAttributes").Resource,
      ).to.have.members([
        `arn:aws:ses:eu-west-1:${ACCOUNT}:identity/eu.example.jp`,
        `arn:aws:ses:eu-central-1:${ACCOUNT}:identity/eu.example.jp`,
      ]);
      expect(statementFor(activator, "secretsmanager:GetSecretValue").Resource).to.equal(
        `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:dkim/*`,
      );
      const viaSecretsManager = allows(activator).find(
        (s) => s.Action.includes("kms:Decrypt") && s.Condition?.StringEquals?.["kms:ViaService"],
      );
      expect(viaSecretsManager?.Condition).to.deep.equal({
        StringEquals: { "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com" },
        StringLike: {
          "kms:EncryptionContext:SecretARN": `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:dkim/*`,
        },
      });
      expect(providerRegion(one("aws:kms/key:Key", "key-vault"))).to.equal("eu-west-1");
      const identities = byType("aws:sesv2/emailIdentity:EmailIdentity");
      expect(identities.map(providerRegion)).to.have.members(["eu-west-1", "eu-central-1"]);
    });
  });

  describe("bad config fails before anything is created, naming the field", function () {
    const baseValues = () => projectValues(stackFileValues());
    const expectInputError = (fn: () => unknown, ...fragments: string[]) => {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(caught, "an error").to.be.instanceOf(errorsModule.InputError);
      const message = (caught as Error).message;
      expect(message).not.to.include("\n");
      for (const fragment of fragments) expect(message).to.include(fragment);
    };

    it("rejects keyBits 4096", function () {
      const values = baseValues();
      (values.identities as Record<string, unknown>[])[0]!.keyBits = 4096;
      expectInputError(
        () => parse(values),
        STACK_FILE,
        "identity mail.example.jp",
        "ses-dkim-rotation:identities[0].keyBits",
        "1024 or 2048",
      );
    });

    it("rejects an identity without a domain", function () {
      const values = baseValues();
      delete (values.identities as Record<string, unknown>[])[1]!.domain;
      expectInputError(() => parse(values), "ses-dkim-rotation:identities[1].domain");
    });

    it("requires the github block (the trust policies name the repository)", function () {
      const values = baseValues();
      delete values.github;
      expectInputError(() => parse(values), "field ses-dkim-rotation:github", "is missing");
    });

    it("refuses to manage an environment with no reviewers", function () {
      const values = baseValues();
      values.github = { owner: "o", repo: "r", manageRepository: true };
      expectInputError(() => parse(values), "ses-dkim-rotation:github.reviewers", "no human gate");
    });

    it("requires kmsKeyId to be an alias the estate can create", function () {
      expectInputError(
        () => parse({ ...baseValues(), kmsKeyId: `arn:aws:kms:ap-northeast-1:${ACCOUNT}:key/abc` }),
        "ses-dkim-rotation:kmsKeyId",
      );
      expectInputError(
        () => parse({ ...baseValues(), kmsKeyId: "alias/aws/secretsmanager" }),
        "ses-dkim-rotation:kmsKeyId",
      );
    });

    it("rejects an existingOidcProviderArn that is not GitHub's provider", function () {
      expectInputError(
        () =>
          parse({
            ...baseValues(),
            existingOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/example.com`,
          }),
        "ses-dkim-rotation:existingOidcProviderArn",
      );
    });

    it("rejects adopting an identity or Region that is not configured", function () {
      expectInputError(
        () => parse({ ...baseValues(), adoptIdentities: ["news.example.jp@ap-northeast-3"] }),
        "identity news.example.jp",
        "ses-dkim-rotation:adoptIdentities[0]",
      );
      expectInputError(
        () => parse({ ...baseValues(), adoptIdentities: ["example.co.jp", "other.example"] }),
        "ses-dkim-rotation:adoptIdentities[1]",
      );
    });

    it("reports a bad value read through pulumi.Config as a one-line RunError", function () {
      const config = stackFileValues();
      const identities = structuredClone(config[`${PROJECT}:identities`]) as Record<
        string,
        unknown
      >[];
      identities[2]!.keyBits = 4096;
      setPulumiConfig({ ...config, [`${PROJECT}:identities`]: identities });
      let caught: unknown;
      try {
        configModule.loadEstateConfig();
      } catch (err) {
        caught = err;
      }
      expect(pulumi.RunError.isInstance(caught)).to.equal(true);
      expect((caught as Error).message).to.equal(
        "Pulumi.prod.yaml: identity example.co.jp: field ses-dkim-rotation:identities[2].keyBits: " +
          "must be 1024 or 2048 (the only RSA sizes SES accepts) " +
          "(hint: use 2048 unless your DNS host cannot serve a 410-byte TXT record)",
      );
    });

    it("reads the webhook URL as a secret, and refuses one without notifications", async function () {
      const webhook = "https://hooks.example.jp/services/T0/B0/secret-token";
      const key = `${PROJECT}:notificationWebhookUrl`;
      setPulumiConfig({ ...stackFileValues(), [key]: webhook }, [key]);
      const config = configModule.readEstateConfig();
      expect(pulumi.Output.isInstance(config.notificationWebhookUrl)).to.equal(true);
      expect(await pulumi.isSecret(config.notificationWebhookUrl!)).to.equal(true);
      expect(await valueOf(config.notificationWebhookUrl!)).to.equal(webhook);

      const quiet = stackFileValues();
      delete quiet[`${PROJECT}:notifications`];
      setPulumiConfig({ ...quiet, [key]: webhook }, [key]);
      expectInputError(
        () => configModule.readEstateConfig(),
        "ses-dkim-rotation:notificationWebhookUrl",
        "no notifications block",
      );
      setPulumiConfig(stackFileValues());
    });

    it("reads numbers, lists and plain strings from pulumi.Config as the engine encodes them", function () {
      setPulumiConfig({
        ...stackFileValues(),
        [`${PROJECT}:metricsNamespace`]: "2024",
        [`${PROJECT}:deletionRecoveryDays`]: 14,
      });
      const config = configModule.readEstateConfig();
      expect(config.metricsNamespace).to.equal("2024");
      expect(config.deletionRecoveryDays).to.equal(14);
      expect(config.dnsTeam).to.equal("@example-jp/dns-team");
      expect(config.regions).to.deep.equal(["ap-northeast-1", "ap-northeast-3"]);
      expect(config.identities.map((i) => i.domain)).to.deep.equal([
        "mail.example.jp",
        "news.example.jp",
        "example.co.jp",
      ]);
    });
  });
});
