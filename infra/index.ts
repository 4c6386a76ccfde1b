/**
 * Pulumi entry point (Pulumi.yaml `main`). Reads the stack config once and
 * builds the estate; everything else lives in estate.ts and components/.
 */
import { loadEstateConfig } from "./config";
import { createEstate } from "./estate";

const estate = createEstate(loadEstateConfig());

export const plannerRoleArn = estate.plannerRoleArn;
export const activatorRoleArn = estate.activatorRoleArn;
export const publisherRoleArn = estate.publisherRoleArn;
export const reportsRoleArn = estate.reportsRoleArn;
export const alertTopicArn = estate.alertTopicArn;
export const alertTopicArns = estate.alertTopicArns;
export const kmsKeyArn = estate.kmsKeyArn;
export const kmsAlias = estate.kmsAliasName;
export const dashboardName = estate.dashboardName;
/** The notification topic (undefined without `notifications`). */
export const notificationTopicArn = estate.notificationTopicArn;
