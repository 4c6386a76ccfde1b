/**
 * Environment for a CLI or action child process that talks only to the local
 * emulator: static dummy credentials, and no lookup of real credentials or the
 * instance metadata service, so a test can never reach a real AWS account.
 */
export function offlineAwsEnv(credentials: {
  accessKeyId: string;
  secretAccessKey: string;
}): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_CONFIG_FILE: "/nonexistent/aws-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/aws-credentials",
    AWS_EC2_METADATA_DISABLED: "true",
    // The SDK warns that Node 20 support ends in 2027; these runs only talk to the emulator.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}
