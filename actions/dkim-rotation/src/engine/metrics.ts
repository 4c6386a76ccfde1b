/**
 * The CloudWatch metrics the pipeline publishes and the Pulumi alarms watch.
 *
 * One module for both sides: an alarm on a metric name nobody publishes stays
 * in INSUFFICIENT_DATA forever (or, with `treatMissingData: breaching`, fires
 * forever), so the names must not drift. The namespace is configurable
 * (`<project>:metricsNamespace`, default `SesDkimRotation`); every metric has
 * exactly one dimension, `Domain`, and the pipeline publishes them in the
 * stack's home Region (`aws:region`), where the alarms live.
 */

/** Days until the active key reaches `rotationDays` of age. The expiry alarm is also the dead-man's switch. */
export const METRIC_DAYS_UNTIL_EXPIRY = "DaysUntilExpiry";

/** 1 when SES reports a DKIM status other than `SUCCESS` in any Region, else 0. */
export const METRIC_DKIM_STATUS_NOT_SUCCESS = "DkimStatusNotSuccess";

/** Days since the pending record was merged and still not served by every nameserver (0 when none is pending). */
export const METRIC_PENDING_PUBLICATION_DAYS = "PendingPublicationDays";

/** The single dimension of every metric above; its value is the identity's domain. */
export const METRIC_DIMENSION_DOMAIN = "Domain";

/*
 * From receivers' DMARC aggregate reports (docs/design.md#dmarc-aggregate-reports):
 * messages whose DKIM signature with this selector passed or did not, per
 * report day, with the dimensions Domain and Selector (the dashboard's
 * per-selector series).
 */
export const METRIC_DMARC_DKIM_PASS = "DmarcDkimPass";
export const METRIC_DMARC_DKIM_FAIL = "DmarcDkimFail";
/** The second dimension of the two metrics above. */
export const METRIC_DIMENSION_SELECTOR = "Selector";
/**
 * The active (newest) selector's failure share (0–1) since its activation,
 * dimension Domain only: its alarm outlives every rotation, where an alarm
 * on a Selector dimension would name a selector that is soon history.
 */
export const METRIC_DMARC_NEWEST_FAILURE_SHARE = "DmarcNewestSelectorFailureShare";

export const DEFAULT_METRICS_NAMESPACE = "SesDkimRotation";

export const DKIM_METRIC_NAMES = [
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
] as const;

export type DkimMetricName = (typeof DKIM_METRIC_NAMES)[number];
