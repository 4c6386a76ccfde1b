/** The action's entry point in this process, for tests (scripts/action-host.ts). */
export {
  parseOutputFile,
  runEntryPoint,
  unescapeCommandData,
  type EntryPointRun,
} from "../../scripts/action-host";
