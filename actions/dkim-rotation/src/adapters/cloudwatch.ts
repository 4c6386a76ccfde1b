/**
 * CloudWatch metrics for the alarms (names in engine/metrics.ts): every
 * datum has the dimension `Domain`, and the DMARC report counts also
 * `Selector`. PutMetricData takes at most 1000
 * datums per call (CloudWatch API reference), so larger fleets are batched.
 */
import {
  PutMetricDataCommand,
  type CloudWatchClient,
  type MetricDatum,
} from "@aws-sdk/client-cloudwatch";
import {
  DEFAULT_METRICS_NAMESPACE,
  METRIC_DIMENSION_DOMAIN,
  METRIC_DIMENSION_SELECTOR,
} from "../engine/metrics";
import type { MetricDatum as EngineDatum, MetricsPort } from "../engine/ports";

export const MAX_DATUMS_PER_CALL = 1000;

export interface CloudWatchMetricsOptions {
  client: CloudWatchClient;
  /** Default `SesDkimRotation` (engine/metrics.ts); must match the alarms'. */
  namespace?: string;
  /** Timestamps come from here (the sandbox's simulated clock); the service's receive time when absent. */
  clock?: { now(): Date };
}

export class CloudWatchMetrics implements MetricsPort {
  private readonly client: CloudWatchClient;
  private readonly namespace: string;
  private readonly clock: { now(): Date } | undefined;

  constructor(options: CloudWatchMetricsOptions) {
    this.client = options.client;
    this.namespace = options.namespace ?? DEFAULT_METRICS_NAMESPACE;
    this.clock = options.clock;
  }

  async publish(metrics: EngineDatum[]): Promise<void> {
    const timestamp = this.clock?.now();
    const data: MetricDatum[] = metrics.map((m) => {
      if (!Number.isFinite(m.value))
        throw new RangeError(`metric ${m.name} for ${m.domain} is not a finite number`);
      return {
        MetricName: m.name,
        Dimensions: [
          { Name: METRIC_DIMENSION_DOMAIN, Value: m.domain },
          ...(m.selector ? [{ Name: METRIC_DIMENSION_SELECTOR, Value: m.selector }] : []),
        ],
        Value: m.value,
        ...(m.unit ? { Unit: m.unit } : {}),
        ...((m.at ?? timestamp) ? { Timestamp: m.at ?? timestamp } : {}),
      };
    });
    for (let i = 0; i < data.length; i += MAX_DATUMS_PER_CALL) {
      await this.client.send(
        new PutMetricDataCommand({
          Namespace: this.namespace,
          MetricData: data.slice(i, i + MAX_DATUMS_PER_CALL),
        }),
      );
    }
  }
}
