/**
 * The lifecycle planner (engine/planner.ts): a table of lifecycle situations
 * pinned at their time edges, then properties over random clocks and states
 * for the invariants the planner must never break.
 */
import { expect } from "chai";
import fc from "fast-check";
import { addDays, DAY_MS } from "../actions/dkim-rotation/src/engine/clock";
import {
  ROTATION_BUFFER_DAYS,
  type IdentityConfig,
} from "../actions/dkim-rotation/src/engine/config";
import {
  plan,
  rotationStart,
  takenSelectors,
  type Decision,
  type DnsObservation,
  type PlannerInput,
} from "../actions/dkim-rotation/src/engine/planner";
import {
  checkRetirement,
  deriveLifecycle,
  regionSigning,
  signingSelector,
} from "../actions/dkim-rotation/src/engine/lifecycle";
import type {
  KeyState,
  RecordOnMain,
  SesDkimStatus,
  SesIdentityState,
  StoredKey,
} from "../actions/dkim-rotation/src/engine/ports";

const DOMAIN = "mail.example.jp";
const TOKYO = "ap-northeast-1";
const OSAKA = "ap-northeast-3";

// ---- factories --------------------------------------------------------------

function identity(over: Partial<IdentityConfig> = {}): IdentityConfig {
  return {
    domain: DOMAIN,
    selectorPrefix: "mail",
    regions: [TOKYO],
    keyBits: 2048,
    rotationDays: 365,
    dnsLeadDays: 14,
    alertDays: 30,
    graceDays: 7,
    recordTtl: 3600,
    ...over,
  };
}

/** A stand-in SPKI: the planner only compares public keys, it never parses them. */
const pk = (selector: string) => `MIIBIjANBgkq-${selector}`;

function key(
  selector: string,
  createdAt: Date,
  state: KeyState,
  over: Partial<StoredKey> = {},
): StoredKey {
  return {
    domain: DOMAIN,
    selector,
    secretName: `dkim/${DOMAIN}/${selector}`,
    createdAt,
    publicKey: pk(selector),
    keyBits: 2048,
    state,
    ...over,
  };
}

function record(selector: string, mergedAt?: Date, over: Partial<RecordOnMain> = {}): RecordOnMain {
  return {
    domain: DOMAIN,
    selector,
    path: `dns/${DOMAIN}/${selector}.zone`,
    publicKey: pk(selector),
    keyBits: 2048,
    mergedAt,
    ...over,
  };
}

/** SES in one Region signing with a BYODKIM selector. */
function byodkim(
  region: string,
  selector: string,
  status: SesDkimStatus = "SUCCESS",
  over: Partial<SesIdentityState> = {},
): SesIdentityState {
  return {
    region,
    domain: DOMAIN,
    exists: true,
    signingEnabled: true,
    status,
    tokens: [selector],
    origin: "EXTERNAL",
    ...over,
  };
}

/** SES in one Region on Easy DKIM (three CNAME tokens). */
function easyDkim(region: string, origin = "AWS_SES"): SesIdentityState {
  return {
    region,
    domain: DOMAIN,
    exists: true,
    signingEnabled: true,
    status: "SUCCESS",
    tokens: ["abc123", "def456", "ghi789"],
    origin,
    signingHostedZone: "dkim.amazonses.com",
  };
}

/** The way back from `easyDkim(TOKYO)`: its CNAMEs, to the zone SES gave. */
const EASY_CNAMES = ["abc123", "def456", "ghi789"].map((token) => ({
  region: TOKYO,
  token,
  name: `${token}._domainkey.${DOMAIN}`,
  target: `${token}.dkim.amazonses.com`,
}));

function missingIdentity(region: string): SesIdentityState {
  return { region, domain: DOMAIN, exists: false, signingEnabled: false, tokens: [] };
}

const ok = (summary = "ok on ns1.example.jp, ns2.example.jp"): DnsObservation => ({
  ok: true,
  summary,
});
const notServed = (summary: string): DnsObservation => ({ ok: false, summary });

const ms = (d: Date, delta: number) => new Date(d.getTime() + delta);

// ---- a timeline for one identity -------------------------------------------
// A was activated at T0. Rotation starts at T0 + 365 − 30 − 14 − 7 = T0 + 314 d.
// B is generated then, merged two days later, served at T0 + 330 d and
// activated at T1 = T0 + 331 d; A may be retired from T1 + 7 d.

const T0 = new Date("2026-01-10T03:00:00Z");
const ROTATE_AT = addDays(T0, 365 - 30 - 14 - ROTATION_BUFFER_DAYS);
const B_CREATED = ROTATE_AT;
const B_MERGED = addDays(B_CREATED, 2);
const T1 = addDays(T0, 331);
const RETIRE_AT = addDays(T1, 7);

const A = "mail-20260108";
const B = "mail-20261120";

const keyA = (over: Partial<StoredKey> = {}) =>
  key(A, addDays(T0, -16), "active", { activatedAt: T0, ...over });
const keyB = (over: Partial<StoredKey> = {}) => key(B, B_CREATED, "pending", over);
const keyBActive = (over: Partial<StoredKey> = {}) =>
  keyB({ state: "active", activatedAt: T1, ...over });

function input(over: Partial<PlannerInput> & { now: Date }): PlannerInput {
  return { identity: identity(), records: [], keys: [], ses: [], ...over };
}

function alertKinds(d: Decision): string[] {
  return d.alerts.map((a) => a.kind);
}

// ---- the table --------------------------------------------------------------

interface Case {
  name: string;
  input: () => PlannerInput;
  /** Fields of the decision (whichever its kind carries), plus alert kinds and a reason pattern. */
  expect: {
    alerts?: string[];
    reason?: RegExp | string;
    [field: string]: unknown;
  };
}

const cases: Case[] = [
  // Onboarding
  {
    name: "onboarding from Easy DKIM → rotate",
    input: () => input({ ses: [easyDkim(TOKYO)], now: T0 }),
    expect: { kind: "rotate", reason: /onboarding: SES uses Easy DKIM/, alerts: [] },
  },
  {
    name: "onboarding from deterministic Easy DKIM (AWS_SES_<REGION>) → rotate",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        ses: [easyDkim(TOKYO, "AWS_SES_AP_NORTHEAST_1"), easyDkim(OSAKA, "AWS_SES_AP_NORTHEAST_1")],
        now: T0,
      }),
    expect: { kind: "rotate", reason: /Easy DKIM/, activeSelector: undefined },
  },
  {
    name: "onboarding with no DKIM at all → rotate",
    input: () =>
      input({
        ses: [{ ...missingIdentity(TOKYO), exists: true, status: "NOT_STARTED" }],
        now: T0,
      }),
    expect: { kind: "rotate", reason: /no DKIM/ },
  },
  {
    name: "onboarding: first key stored, no record → await-approval",
    input: () =>
      input({ ses: [easyDkim(TOKYO)], keys: [key(A, T0, "pending")], now: addDays(T0, 1) }),
    expect: {
      kind: "await-approval",
      selector: A,
      rollback: { kind: "easy-dkim", cnames: EASY_CNAMES },
    },
  },
  {
    name: "onboarding: first record served everywhere → activate (first BYODKIM key)",
    input: () =>
      input({
        ses: [easyDkim(TOKYO)],
        keys: [key(A, T0, "pending")],
        records: [record(A, addDays(T0, 2))],
        dns: { [A]: ok() },
        now: addDays(T0, 15),
      }),
    expect: {
      kind: "activate",
      selector: A,
      rollback: { kind: "easy-dkim", cnames: EASY_CNAMES },
      reason: /first BYODKIM key, from Easy DKIM/,
    },
  },

  // Steady state and the rotation edge
  {
    name: "fresh active key → idle until rotation start",
    input: () =>
      input({
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(T0, 1),
      }),
    expect: {
      kind: "idle",
      notBefore: ROTATE_AT,
      activeSelector: A,
      expiresAt: addDays(T0, 365),
      daysToExpiry: 364,
      keyAgeDays: 1,
      alerts: [],
    },
  },
  {
    name: "one millisecond before rotation start → idle",
    input: () =>
      input({
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A)],
        now: ms(ROTATE_AT, -1),
      }),
    expect: { kind: "idle", notBefore: ROTATE_AT },
  },
  {
    name: "exactly at rotation start → rotate, replacing the active selector",
    input: () =>
      input({ keys: [keyA()], records: [record(A, T0)], ses: [byodkim(TOKYO, A)], now: ROTATE_AT }),
    expect: {
      kind: "rotate",
      rollback: { kind: "byodkim", selector: A },
      activeSelector: A,
      alerts: [],
    },
  },
  {
    name: "a key without an activation time is never dated by SES's last success (it moves on every re-check): rotate",
    input: () =>
      input({
        keys: [keyA({ activatedAt: undefined })],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A, "SUCCESS", { lastSuccessAt: addDays(T0, 314) })],
        now: addDays(T0, 315),
      }),
    expect: {
      kind: "rotate",
      keyAgeDays: undefined,
      alerts: ["age-unknown"],
      reason: /age is unknown/,
    },
  },
  {
    name: "a hand-written record file without a stored key: age unknown, rotate with no rollback",
    input: () =>
      input({
        records: [record("gooid-21-prod", T0)],
        ses: [byodkim(TOKYO, "gooid-21-prod", "SUCCESS", { lastSuccessAt: addDays(T0, 314) })],
        now: addDays(T0, 315),
      }),
    expect: {
      kind: "rotate",
      activeSelector: "gooid-21-prod",
      alerts: ["age-unknown"],
      reason: /age is unknown/,
    },
  },
  {
    name: "SES answers EXTERNAL with empty Tokens: the selector is the key store's active record",
    input: () =>
      input({
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A, "SUCCESS", { tokens: [] })],
        now: addDays(T0, 1),
      }),
    expect: { kind: "idle", activeSelector: A, notBefore: ROTATE_AT, alerts: [] },
  },
  {
    name: "EXTERNAL with empty Tokens and no active record anywhere → refuse, naming what is unknown",
    input: () =>
      input({
        keys: [key(A, T0, "pending")],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A, "SUCCESS", { tokens: [] })],
        now: addDays(T0, 1),
      }),
    expect: { kind: "alert", alerts: ["unknown-state"], reason: /empty Tokens.*unknown/ },
  },
  {
    name: "TEMPORARY_FAILURE after SUCCESS on the active key: no alert, retirement waits",
    input: () =>
      input({
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B, "TEMPORARY_FAILURE")],
        now: addDays(RETIRE_AT, 1),
      }),
    expect: { kind: "idle", selector: A, alerts: [], reason: /with SES SUCCESS everywhere/ },
  },
  {
    name: "past the alert threshold with nothing in flight → rotate with the expiring alert",
    input: () =>
      input({
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(T0, 340),
      }),
    expect: { kind: "rotate", daysToExpiry: 25, alerts: ["expiring"] },
  },

  // The new key on its way through DNS
  {
    name: "key stored but no record on main → await-approval",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(B_CREATED, 1),
      }),
    expect: {
      kind: "await-approval",
      selector: B,
      rollback: { kind: "byodkim", selector: A },
      activeSelector: A,
      reason: /stored 2026-11-20; .*awaits DNS review.*publish by 2026-12-04/,
    },
  },
  {
    name: "record on main, DNS not checked yet → await-publication",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(B_MERGED, 3),
      }),
    expect: { kind: "await-publication", selector: B, reason: /DNS not checked yet/ },
  },
  {
    name: "record on main, DNS missing → await-publication with the DNS summary",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: notServed("ns2.example.jp: missing (NXDOMAIN)") },
        now: addDays(B_MERGED, 5),
      }),
    expect: {
      kind: "await-publication",
      selector: B,
      rollback: { kind: "byodkim", selector: A },
      pendingPublicationDays: 5,
      reason: /not yet served everywhere: ns2\.example\.jp: missing \(NXDOMAIN\)/,
      alerts: [],
    },
  },
  {
    name: "DNS ok everywhere → activate with the previous selector for rollback",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: ok() },
        now: addDays(T0, 330),
      }),
    expect: {
      kind: "activate",
      selector: B,
      rollback: { kind: "byodkim", selector: A },
      activeSelector: A,
      reason: new RegExp(`replacing ${A}`),
      alerts: [],
    },
  },
  {
    name: "DNS ok in two Regions → one activate for both",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A), byodkim(OSAKA, A)],
        dns: { [B]: ok() },
        now: addDays(T0, 330),
      }),
    expect: {
      kind: "activate",
      selector: B,
      rollback: { kind: "byodkim", selector: A },
      alerts: [],
    },
  },
  {
    name: "record p= differs from the stored public key → alert record-mismatch",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED, { publicKey: pk("someone-else") })],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: ok() },
        now: addDays(T0, 330),
      }),
    expect: { kind: "alert", selector: B, alerts: ["record-mismatch"], reason: /never the key/ },
  },
  // Rotation starts so that DNS lead + buffer ends when the expiry alert
  // fires: a publication that runs later than that pages on both counts.
  {
    name: "pending publication for dnsLeadDays + 7 days → no overdue alert yet",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: notServed("ns1.example.jp: missing (NODATA)") },
        now: addDays(B_MERGED, 21),
      }),
    expect: {
      kind: "await-publication",
      pendingPublicationDays: 21,
      daysToExpiry: 28,
      alerts: ["expiring"],
    },
  },
  {
    name: "pending publication > dnsLeadDays + 7 days → publication-overdue alert",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: notServed("ns1.example.jp: missing (NODATA)") },
        now: addDays(B_MERGED, 22),
      }),
    expect: {
      kind: "await-publication",
      pendingPublicationDays: 22,
      alerts: ["expiring", "publication-overdue"],
    },
  },
  {
    name: "no merge time: publication is counted from key creation",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(B_CREATED, 25),
      }),
    expect: {
      kind: "await-publication",
      pendingPublicationDays: 25,
      alerts: ["expiring", "publication-overdue"],
    },
  },
  {
    name: "expiring alert rides along with await-publication",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: notServed("ns1.example.jp: mismatch (p)") },
        now: addDays(T0, 336),
      }),
    expect: {
      kind: "await-publication",
      daysToExpiry: 29,
      pendingPublicationDays: 20,
      alerts: ["expiring"],
    },
  },
  {
    name: "exactly alertDays before expiry → no expiring alert yet",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        dns: { [B]: notServed("ns1.example.jp: mismatch (p)") },
        now: addDays(T0, 335),
      }),
    expect: { kind: "await-publication", daysToExpiry: 30, alerts: [] },
  },
  {
    name: "a newer pending key scheduled for deletion is not a candidate",
    input: () =>
      input({
        keys: [keyA(), keyB({ deletionDate: addDays(B_CREATED, 30) })],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(B_CREATED, 1),
      }),
    expect: { kind: "rotate", rollback: { kind: "byodkim", selector: A } },
  },

  // SES trouble
  {
    name: "SES FAILED on the active key → alert",
    input: () =>
      input({
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A, "FAILED", { errorType: "HOST_NOT_FOUND" })],
        now: addDays(T0, 100),
      }),
    expect: {
      kind: "alert",
      activeSelector: A,
      alerts: ["ses-failed"],
      reason: new RegExp(`${A}\\._domainkey\\.${DOMAIN.replaceAll(".", "\\.")}`),
    },
  },
  {
    name: "SES FAILED in one of two Regions → alert naming that Region",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A), byodkim(OSAKA, A, "FAILED")],
        now: addDays(T0, 100),
      }),
    expect: { kind: "alert", alerts: ["ses-failed"] },
  },
  {
    name: "SES FAILED wins over a ready candidate",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A, "FAILED")],
        dns: { [B]: ok() },
        now: addDays(T0, 330),
      }),
    expect: { kind: "alert", alerts: ["ses-failed"] },
  },
  {
    name: "drift: SES signs with an unknown selector → alert and no other action",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, "gooid-21-prod")],
        dns: { [B]: ok() },
        now: addDays(T0, 330),
      }),
    expect: {
      kind: "alert",
      selector: undefined,
      retireStep: undefined,
      activeSelector: "gooid-21-prod",
      alerts: ["drift"],
      reason: /drift.*refusing to act until it is adopted \(npm run dkim -- adopt\)/,
    },
  },
  {
    name: "identity missing in a Region → alert",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A), missingIdentity(OSAKA)],
        now: addDays(T0, 100),
      }),
    expect: {
      kind: "alert",
      alerts: ["identity-missing"],
      reason: /does not exist in ap-northeast-3.*pulumi up/,
    },
  },

  // Activation in progress or half-done
  {
    name: "Regions disagree (one on the new selector) → activate to finish",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B, "PENDING"), byodkim(OSAKA, A)],
        now: T1,
      }),
    expect: {
      kind: "activate",
      selector: B,
      rollback: { kind: "byodkim", selector: A },
      alerts: ["regions-disagree"],
      reason: /Regions disagree \(ap-northeast-1: mail-20261120, ap-northeast-3: mail-20260108\)/,
    },
  },
  {
    name: "a Region added later (still Easy DKIM) → activate the active key there too",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA()],
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A), easyDkim(OSAKA)],
        now: addDays(T0, 50),
      }),
    expect: {
      kind: "activate",
      selector: A,
      rollback: {
        kind: "none",
        why: "mail-20260108 already signs in the other Regions; if it fails in ap-northeast-3, fix it there",
      },
      alerts: ["regions-disagree"],
      reason: /ap-northeast-3: AWS_SES/,
    },
  },
  {
    name: "Regions disagree on a selector with no stored key → alert, not activate",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        records: [record(A, T0)],
        ses: [byodkim(TOKYO, A, "PENDING"), easyDkim(OSAKA)],
        now: addDays(T0, 1),
      }),
    expect: {
      kind: "alert",
      selector: undefined,
      alerts: ["regions-disagree"],
      reason: /no stored key exists for mail-20260108; reconcile by hand/,
    },
  },
  {
    name: "SES signs with a pending key, SUCCESS everywhere → activate (record the activation)",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B), byodkim(OSAKA, B)],
        now: T1,
      }),
    expect: { kind: "activate", selector: B, activeSelector: B, reason: /was not recorded/ },
  },
  {
    name: "SES signs with a pending key, still PENDING → activate (finish polling)",
    input: () =>
      input({
        keys: [keyA(), keyB()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B, "PENDING")],
        now: T1,
      }),
    expect: {
      kind: "activate",
      selector: B,
      reason: /in progress \(SES ap-northeast-1: PENDING\)/,
    },
  },

  // Retirement of the old selector
  {
    name: "after activation, before the grace period ends → idle until then, naming the old selector",
    input: () =>
      input({
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: addDays(T1, 3),
      }),
    expect: {
      kind: "idle",
      notBefore: RETIRE_AT,
      selector: A,
      activeSelector: B,
      reason: /stays published for rollback/,
    },
  },
  {
    name: "one millisecond before the grace period ends → idle",
    input: () =>
      input({
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: ms(RETIRE_AT, -1),
      }),
    expect: { kind: "idle", notBefore: RETIRE_AT, selector: A },
  },
  {
    name: "at the end of the grace period → retire: remove the old record",
    input: () =>
      input({
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: RETIRE_AT,
      }),
    expect: { kind: "retire", selector: A, retireStep: "remove-record", activeSelector: B },
  },
  {
    name: "with DMARC reports: grace over but reports saw the old selector 2 days ago → idle until quietDays after",
    input: () =>
      input({
        keys: [
          keyA({ reportSeenAt: addDays(RETIRE_AT, -2) }),
          keyBActive({ reportSeenAt: RETIRE_AT }),
        ],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: RETIRE_AT,
        reportQuietDays: 7,
      }),
    expect: {
      kind: "idle",
      notBefore: addDays(RETIRE_AT, 5),
      selector: A,
      reason: /receivers' reports still saw mail-20260108 until .* \(dmarcReports\.quietDays 7\)/,
    },
  },
  {
    name: "with DMARC reports: the old selector quiet for quietDays → retire, saying so",
    input: () =>
      input({
        keys: [
          keyA({ reportSeenAt: addDays(RETIRE_AT, -7) }),
          keyBActive({ reportSeenAt: RETIRE_AT }),
        ],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: RETIRE_AT,
        reportQuietDays: 7,
      }),
    expect: {
      kind: "retire",
      selector: A,
      retireStep: "remove-record",
      reason: /reports have not seen mail-20260108 since/,
    },
  },
  {
    name: "with DMARC reports but no report data for quietDays → retire on grace alone, saying why",
    input: () =>
      input({
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: RETIRE_AT,
        reportQuietDays: 7,
      }),
    expect: { kind: "retire", selector: A, reason: /no DMARC report data for 7\+ days/ },
  },
  {
    name: "without DMARC reports → retire on grace, saying production proof is off",
    input: () =>
      input({
        keys: [keyA({ reportSeenAt: RETIRE_AT }), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: RETIRE_AT,
      }),
    expect: { kind: "retire", selector: A, reason: /production proof from DMARC reports is off/ },
  },
  {
    name: "two Regions SUCCESS after the grace period → retire",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B), byodkim(OSAKA, B)],
        now: addDays(RETIRE_AT, 1),
      }),
    expect: { kind: "retire", selector: A, retireStep: "remove-record" },
  },
  {
    name: "old record already removed → retire: delete the key",
    input: () =>
      input({
        keys: [keyA(), keyBActive()],
        records: [record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: addDays(RETIRE_AT, 2),
      }),
    expect: { kind: "retire", selector: A, retireStep: "delete-key" },
  },
  {
    name: "old key scheduled for deletion and record gone → idle until the next rotation",
    input: () =>
      input({
        keys: [keyA({ state: "retired", deletionDate: addDays(RETIRE_AT, 32) }), keyBActive()],
        records: [record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: addDays(RETIRE_AT, 3),
      }),
    expect: {
      kind: "idle",
      selector: undefined,
      notBefore: addDays(T1, 365 - 30 - 14 - ROTATION_BUFFER_DAYS),
    },
  },
  {
    name: "an abandoned pending key older than the active one is retired too",
    input: () =>
      input({
        keys: [keyA(), key("mail-20261001", addDays(T0, 200), "pending"), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B)],
        now: RETIRE_AT,
      }),
    expect: { kind: "retire", selector: A, retireStep: "remove-record" },
  },
  {
    name: "retire is not proposed while a Region is not SUCCESS",
    input: () =>
      input({
        identity: identity({ regions: [TOKYO, OSAKA] }),
        keys: [keyA(), keyBActive()],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, B), byodkim(OSAKA, B, "TEMPORARY_FAILURE")],
        now: addDays(RETIRE_AT, 10),
      }),
    expect: { kind: "idle", selector: A, reason: /with SES SUCCESS everywhere/ },
  },
  {
    name: "the selector SES signs with is never a retirement target, even with a stale newer key",
    input: () =>
      input({
        keys: [keyA(), keyB({ deletionDate: addDays(B_CREATED, 30) })],
        records: [record(A, T0), record(B, B_MERGED)],
        ses: [byodkim(TOKYO, A)],
        now: addDays(T0, 360),
      }),
    expect: { kind: "rotate", rollback: { kind: "byodkim", selector: A } },
  },
];

describe("planner", () => {
  describe("lifecycle table", () => {
    for (const c of cases) {
      it(c.name, () => {
        const d = plan(c.input());
        const { alerts, reason, ...fields } = c.expect;
        expect(d.domain).to.equal(DOMAIN);
        for (const [k, v] of Object.entries(fields)) {
          expect(
            (d as unknown as Record<string, unknown>)[k],
            `${k} (reason: ${d.reason})`,
          ).to.deep.equal(v);
        }
        if (alerts) expect(alertKinds(d), d.reason).to.deep.equal(alerts);
        if (reason instanceof RegExp) expect(d.reason).to.match(reason);
        else if (reason) expect(d.reason).to.equal(reason);
        expect(d.reason).not.to.match(/[\r\n]/);
        expect(d.reason).not.to.include("undefined");
      });
    }
  });

  describe("helpers", () => {
    it("rotationStart leaves DNS lead time and the buffer before the expiry alert", () => {
      const id = identity({ rotationDays: 180, alertDays: 20, dnsLeadDays: 21, graceDays: 7 });
      const start = rotationStart(id, T0);
      expect(start).to.deep.equal(addDays(T0, 180 - 20 - 21 - ROTATION_BUFFER_DAYS));
      const alertAt = addDays(T0, 180 - 20);
      expect(addDays(start, id.dnsLeadDays + ROTATION_BUFFER_DAYS)).to.deep.equal(alertAt);
    });

    it("regionSigning reads BYODKIM's token, else the key store's active record, else unknown", () => {
      expect(regionSigning(byodkim(TOKYO, A), [])).to.deep.equal({
        kind: "byodkim",
        selector: A,
        source: "tokens",
      });
      expect(regionSigning(byodkim(TOKYO, A, "SUCCESS", { tokens: [] }), [keyA()])).to.deep.equal({
        kind: "byodkim",
        selector: A,
        source: "key-store",
      });
      expect(
        regionSigning(byodkim(TOKYO, A, "SUCCESS", { tokens: [] }), [keyA()], B),
      ).to.deep.equal({ kind: "byodkim", selector: B, source: "this-run" });
      expect(regionSigning(byodkim(TOKYO, A, "SUCCESS", { tokens: [] }), []).kind).to.equal(
        "byodkim-unknown",
      );
      expect(regionSigning(easyDkim(TOKYO), []).kind).to.equal("easy-dkim");
      expect(regionSigning(missingIdentity(TOKYO), []).kind).to.equal("missing");
    });

    it("takenSelectors holds every name ever used", () => {
      const taken = takenSelectors(
        [record(B)],
        [keyA({ deletionDate: T1 })],
        [byodkim(TOKYO, "gooid-21-prod")],
      );
      expect([...taken].sort()).to.include.members([A, B, "gooid-21-prod"]);
    });
  });

  describe("properties over random clocks and states", () => {
    const POOL = ["mail-20250101", "mail-20250601", "mail-20251201", "mail-20260601"];
    const ROGUE = "gooid-21-prod";
    const BASE = new Date("2025-01-01T00:00:00Z").getTime();
    const SPAN = 3 * 365 * DAY_MS;
    const STATUSES: SesDkimStatus[] = [
      "PENDING",
      "SUCCESS",
      "FAILED",
      "TEMPORARY_FAILURE",
      "NOT_STARTED",
    ];

    const date = fc.integer({ min: 0, max: SPAN }).map((t) => new Date(BASE + t));
    const optDate = fc.option(date, { nil: undefined });

    const identityArb = fc
      .record({
        alertDays: fc.integer({ min: 1, max: 60 }),
        dnsLeadDays: fc.integer({ min: 0, max: 30 }),
        graceDays: fc.integer({ min: 4, max: 30 }),
        slack: fc.integer({ min: 1, max: 400 }),
        twoRegions: fc.boolean(),
      })
      .map(({ alertDays, dnsLeadDays, graceDays, slack, twoRegions }) =>
        identity({
          alertDays,
          dnsLeadDays,
          graceDays,
          rotationDays: alertDays + dnsLeadDays + ROTATION_BUFFER_DAYS + graceDays + slack,
          regions: twoRegions ? [TOKYO, OSAKA] : [TOKYO],
        }),
      );

    /** true about once in `n` draws. */
    const rarely = (n: number) => fc.integer({ min: 1, max: n }).map((x) => x === 1);

    const keyArb = (selector: string) =>
      fc
        .record({
          createdAt: date,
          state: fc.constantFrom<KeyState>("pending", "pending", "active", "active", "retired"),
          activatedAt: optDate,
          deletionDate: fc.option(date, { nil: undefined, freq: 2 }),
          wrongKey: rarely(10),
        })
        .map(({ createdAt, state, activatedAt, deletionDate, wrongKey }) =>
          key(selector, createdAt, state, {
            activatedAt,
            deletionDate,
            publicKey: wrongKey ? pk(`${selector}-other`) : pk(selector),
          }),
        );

    const recordArb = (selector: string) =>
      fc
        .record({ mergedAt: optDate, wrongKey: rarely(10) })
        .map(({ mergedAt, wrongKey }) =>
          record(selector, mergedAt, { publicKey: wrongKey ? pk(`${selector}-x`) : pk(selector) }),
        );

    /** One Region's SES state, without the Region name; mostly on a selector the repo knows. */
    const sesStateArb = (known: string[]) =>
      fc.record({
        exists: rarely(20).map((missing) => !missing),
        mode: fc.constantFrom("byodkim", "byodkim", "byodkim", "byodkim", "easy", "none"),
        selector: fc.oneof(
          {
            arbitrary: known.length ? fc.constantFrom(...known) : fc.constant(POOL[0]!),
            weight: 15,
          },
          { arbitrary: fc.constantFrom(...POOL), weight: 2 },
          { arbitrary: fc.constant(ROGUE), weight: 1 },
        ),
        status: fc.oneof(
          { arbitrary: fc.constant<SesDkimStatus>("SUCCESS"), weight: 6 },
          { arbitrary: fc.constantFrom(...STATUSES), weight: 4 },
        ),
        lastSuccessAt: optDate,
        // The developer guide's BYODKIM example: EXTERNAL, SUCCESS, "Tokens": [].
        tokenless: rarely(6),
      });
    type SesDraw = ReturnType<typeof sesStateArb> extends fc.Arbitrary<infer T> ? T : never;
    const toSes = (region: string, d: SesDraw): SesIdentityState => {
      if (!d.exists) return missingIdentity(region);
      if (d.mode === "easy") return { ...easyDkim(region), status: d.status };
      if (d.mode === "none")
        return { ...missingIdentity(region), exists: true, status: "NOT_STARTED" };
      return byodkim(region, d.selector, d.status, {
        lastSuccessAt: d.lastSuccessAt,
        ...(d.tokenless ? { tokens: [] } : {}),
      });
    };
    /** Regions mostly agree (one shared draw); sometimes one goes its own way. */
    const sesArb = (regions: string[], known: string[]) =>
      fc
        .record({
          shared: sesStateArb(known),
          own: fc.tuple(
            ...regions.map(() => fc.option(sesStateArb(known), { nil: undefined, freq: 4 })),
          ),
        })
        .map(({ shared, own }) => regions.map((r, i) => toSes(r, own[i] ?? shared)));

    const dnsArb = fc.dictionary(
      fc.constantFrom(...POOL),
      rarely(3).map((bad) => (bad ? notServed("ns1.example.jp: missing (NXDOMAIN)") : ok())),
    );

    const stateArb = identityArb.chain((id) =>
      fc
        .record({
          keys: fc.subarray(POOL).chain((sels) => fc.tuple(...sels.map(keyArb))),
          records: fc.subarray(POOL).chain((sels) => fc.tuple(...sels.map(recordArb))),
        })
        .chain(({ keys, records }) => {
          const known = [...new Set([...keys, ...records].map((x) => x.selector))];
          return fc.record({
            identity: fc.constant(id),
            keys: fc.constant(keys),
            records: fc.constant(records),
            ses: sesArb(id.regions, known),
            dns: dnsArb,
            now: date,
          });
        }),
    ) as fc.Arbitrary<PlannerInput>;

    // What SES signs with, read as the lifecycle model reads it (empty Tokens included).
    const signing = (i: PlannerInput) =>
      new Set(
        deriveLifecycle(i)
          .regions.map(signingSelector)
          .filter((s): s is string => !!s),
      );
    const runs = { numRuns: 5000 };

    it("never throws, and always explains itself in one line", () => {
      fc.assert(
        fc.property(stateArb, (i) => {
          const d = plan(i);
          expect(d.domain).to.equal(DOMAIN);
          expect(d.reason).to.be.a("string").and.not.equal("");
          expect(d.reason).not.to.match(/[\r\n]/);
          if (d.kind === "idle") expect(d.notBefore).to.be.instanceOf(Date);
        }),
        runs,
      );
    });

    it("idle waits for a future time, or for SES SUCCESS before retiring", () => {
      fc.assert(
        fc.property(stateArb, (i) => {
          const d = plan(i);
          if (d.kind !== "idle" || d.notBefore > i.now) return;
          // The only idle whose time has passed: retirement held back by a Region not at SUCCESS.
          expect(d.selector, d.reason).to.be.a("string");
          expect(
            i.ses.every((s) => s.status === "SUCCESS"),
            d.reason,
          ).to.equal(false);
        }),
        runs,
      );
    });

    it("never retires a selector SES signs with in any Region, nor before SUCCESS and grace", () => {
      fc.assert(
        fc.property(stateArb, (i) => {
          const d = plan(i);
          if (d.kind !== "retire") return;
          expect(d.selector).to.be.a("string");
          expect(signing(i).has(d.selector), d.reason).to.equal(false);
          expect(i.ses.every((s) => s.status === "SUCCESS")).to.equal(true);
          // Grace is counted from the recorded activation only, never from SES's last success.
          const active = i.keys.find((k) => k.selector === d.activeSelector);
          expect(active?.activatedAt, d.reason).to.be.instanceOf(Date);
          expect(i.now.getTime()).to.be.at.least(
            addDays(active!.activatedAt!, i.identity.graceDays).getTime(),
          );
        }),
        runs,
      );
    });

    it("never activates a selector whose DNS is not verified, unless SES already signs with it", () => {
      fc.assert(
        fc.property(stateArb, (i) => {
          const d = plan(i);
          if (d.kind !== "activate") return;
          expect(d.selector, d.reason).to.be.a("string");
          const finishing = signing(i).has(d.selector);
          if (!finishing) {
            expect(i.dns?.[d.selector]?.ok, d.reason).to.equal(true);
            // Invariant 1: the record on main carries the stored key.
            const rec = i.records.find((r) => r.selector === d.selector);
            const stored = i.keys.find((k) => k.selector === d.selector);
            expect(rec?.publicKey).to.be.a("string").and.equal(stored?.publicKey);
          }
        }),
        runs,
      );
    });

    it("never proposes a new key while one is already in flight", () => {
      fc.assert(
        fc.property(stateArb, (i) => {
          const d = plan(i);
          if (d.kind !== "rotate") return;
          const active = d.activeSelector
            ? i.keys.find((k) => k.selector === d.activeSelector)
            : undefined;
          const inFlight = i.keys.filter(
            (k) =>
              k.state === "pending" &&
              !k.deletionDate &&
              !signing(i).has(k.selector) &&
              (!active || k.createdAt > active.createdAt),
          );
          expect(
            inFlight.map((k) => k.selector),
            d.reason,
          ).to.deep.equal([]);
        }),
        runs,
      );
    });

    it("never acts while SES drifts to an unknown selector", () => {
      fc.assert(
        fc.property(stateArb, (i) => {
          const d = plan(i);
          if (!i.ses.every((s) => s.exists)) return;
          if (signing(i).has(ROGUE)) {
            expect(d.kind).to.equal("alert");
            // A Region answering empty Tokens beside it makes the state unknown: also an alert.
            expect(alertKinds(d)).to.satisfy((k: string[]) =>
              k.some((x) => x === "drift" || x === "unknown-state"),
            );
          }
        }),
        runs,
      );
    });
  });
});

describe("checkRetirement (the retire job) with DMARC reports", () => {
  it("refuses while reports saw the old selector within quietDays, and goes ahead after", () => {
    const at = (now: Date) =>
      checkRetirement(
        deriveLifecycle(
          input({
            keys: [
              keyA({ reportSeenAt: addDays(RETIRE_AT, -2) }),
              keyBActive({ reportSeenAt: addDays(RETIRE_AT, 4) }),
            ],
            records: [record(A, T0), record(B, B_MERGED)],
            ses: [byodkim(TOKYO, B)],
            now,
            reportQuietDays: 7,
          }),
        ),
        A,
      );
    const held = at(RETIRE_AT);
    expect(held.ok).to.equal(false);
    expect(!held.ok && held.why).to.match(
      /^not until .*: receivers' reports still saw mail-20260108/,
    );
    const later = at(addDays(RETIRE_AT, 5));
    expect(later.ok && later.value.evidence).to.match(/reports have not seen mail-20260108 since/);
  });
});
