import type { WorkingTreeChanges } from "../../actions/dkim-rotation/src/adapters/local";
import type { ChangeRequestPort } from "../../actions/dkim-rotation/src/engine/ports";

/**
 * Record changes as reviewed pull requests: proposed changes wait until the
 * test merges them, as on GitHub (the harness's working tree would put them
 * on main at once).
 */
export class ReviewedChanges implements ChangeRequestPort {
  private readonly open = new Map<
    string,
    {
      number: number;
      selector: string;
      kind: "rotation" | "retirement";
      apply: () => Promise<unknown>;
    }
  >();
  private next = 1;
  constructor(private readonly main: WorkingTreeChanges) {}
  private propose(
    domain: string,
    selector: string,
    kind: "rotation" | "retirement",
    apply: () => Promise<unknown>,
  ) {
    const existing = this.open.get(domain);
    if (existing?.selector === selector && existing.kind === kind)
      return {
        number: existing.number,
        url: `https://github.test/pull/${existing.number}`,
        created: false,
      };
    const number = this.next++;
    this.open.set(domain, { number, selector, kind, apply });
    return { number, url: `https://github.test/pull/${number}`, created: true };
  }
  async proposeRecord(c: Parameters<ChangeRequestPort["proposeRecord"]>[0]) {
    return this.propose(c.domain, c.selector, "rotation", () => this.main.proposeRecord(c));
  }
  async proposeRemoval(c: Parameters<ChangeRequestPort["proposeRemoval"]>[0]) {
    return this.propose(c.domain, c.selector, "retirement", () => this.main.proposeRemoval(c));
  }
  async findOpen(domain: string) {
    return this.open.get(domain);
  }
  /** The DNS reviewers merge the domain's open PR. */
  async merge(domain: string): Promise<void> {
    const pr = this.open.get(domain);
    if (!pr) throw new Error(`test: no open PR for ${domain}`);
    await pr.apply();
    this.open.delete(domain);
  }
}
