/**
 * The sandbox ledger's account of failed runs: each failure is recorded once,
 * and the timeline says when the same job next ran and how it concluded, so a
 * failure "retried by the next schedule" that never ran again stands out.
 */
import { expect } from "chai";
import type { ProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import type { GitHubFake } from "../scripts/github-fake";
import type { AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { timelineLine } from "../scripts/sandbox/timeline";
import { Ledger } from "../scripts/sandbox/ledger";
import type { JobRecord, RunRecord } from "../scripts/workflow-runner";

const PLAN = "DKIM / Plan rotations and retirements";
const RETIRE = "DKIM / Retire gooid-21-prod of shop.example";

describe("sandbox ledger: failed runs and their retries", () => {
  let t = Date.parse("2027-06-13T02:17:00Z");
  const printed: string[] = [];
  const ledger = new Ledger({
    config: { identities: [] } as unknown as ProjectConfig,
    emulator: {
      secrets: { list: () => [] },
      ses: { identity: () => undefined },
    } as unknown as AwsEmulator,
    github: { listPulls: () => [] } as unknown as GitHubFake,
    clock: { now: () => new Date(t), sleep: async () => {} },
    environment: "dkim-production",
    naive: false,
    event: (e) =>
      printed.push(
        timelineLine({
          ...e,
          time: new Date(e.at).toISOString(),
          domain: null,
          selector: null,
          regions: [],
        }),
      ),
    onSecret: () => {},
    expectSwap: () => {},
  });
  const run = (
    workflow: string,
    name: string,
    conclusion: JobRecord["conclusion"],
    error?: string,
  ) => {
    const job: JobRecord = { id: "j", name, conclusion, outputs: {} };
    const record: RunRecord = {
      workflow,
      event: "schedule",
      triggered: true,
      jobs: [job],
      steps:
        conclusion === "failure"
          ? [
              {
                job: name,
                outcome: "failure",
                log: `::error::${error}`,
              } as RunRecord["steps"][number],
            ]
          : [],
    };
    ledger.onRun(record);
  };

  it("records a failure once and prints its retry when the same job next concludes", () => {
    run(".github/workflows/dkim-activate.yml", RETIRE, "failure", "socket hang up");
    t += 3_600_000;
    run(".github/workflows/dkim-rotate.yml", PLAN, "failure", "Service is unavailable");
    t += 3_600_000;
    run(".github/workflows/dkim-activate.yml", RETIRE, "success");
    expect(ledger.jobErrors.map((e) => [e.job.split(": ")[1], e.retriedAt ?? null])).to.deep.equal([
      [RETIRE, "2027-06-13T04:17:00.000Z"],
      [PLAN, null],
    ]);
    expect(printed.at(-1)).to.equal(
      `2027-06-13 04:17 .github/workflows/dkim-activate.yml: ${RETIRE} succeeded on retry (the run that failed from 2027-06-13 02:17)`,
    );
    t += 86_400_000;
    run(".github/workflows/dkim-rotate.yml", PLAN, "success");
    expect(ledger.jobErrors.every((e) => e.retriedAt)).to.equal(true);
    expect(printed.at(-1)).to.match(/ DKIM \/ Plan rotations and retirements succeeded on retry /);
    // A later success with nothing awaiting retry prints nothing.
    const lines = printed.length;
    run(".github/workflows/dkim-rotate.yml", PLAN, "success");
    expect(printed.length).to.equal(lines);
  });
});
