// bottleneck/light.js is the build @octokit/plugin-throttling itself uses
// (no Redis clustering); its API is the full package's.
declare module "bottleneck/light.js" {
  import Bottleneck from "bottleneck";
  export default Bottleneck;
}
