// Flat config: typescript-eslint's recommended rules over every TypeScript source,
// plus the layer boundaries (docs/design.md#boundaries).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Node modules that do I/O: the engine decides, adapters act. */
const IO_MODULES = [
  "fs",
  "fs/promises",
  "child_process",
  "net",
  "dgram",
  "dns",
  "dns/promises",
  "http",
  "https",
  "http2",
  "tls",
].flatMap((m) => [m, `node:${m}`]);

/**
 * The engine (pure decision logic and its ports) imports nothing outside its
 * folder, no SDK or client library, and no I/O module. No file is excepted.
 */
function engineBoundary() {
  return [
    "error",
    {
      paths: IO_MODULES.map((name) => ({
        name,
        message: "the engine does no I/O: take a port and let an adapter do it",
      })),
      patterns: [
        {
          group: ["../*"],
          message: "the engine imports only the engine (adapters and front ends import it)",
        },
        {
          group: ["@aws-sdk/*", "@smithy/*", "@octokit/*", "@actions/*", "@pulumi/*", "dns-packet"],
          message: "the engine uses no SDK or client: adapters are handed their clients",
        },
      ],
    },
  ];
}

/** infra/ reads the engine's config schema and nothing else of the action. */
function infraBoundary() {
  return [
    "error",
    {
      patterns: [
        {
          regex: "(^|/)actions/(?!dkim-rotation/src/engine/config$)",
          message: "infra/ imports only the config schema (engine/config) from the action",
        },
      ],
    },
  ];
}

const ENGINE = "actions/dkim-rotation/src/engine";

/**
 * The action's schemas use zod/mini, imported as a namespace
 * (docs/design.md#action-bundle): classic zod gives every schema it builds
 * its own copy of dozens of methods, which cost start-up time at import, and
 * its `z` object (a named or default import) holds every export, its locales
 * among them; a namespace import lets esbuild drop what is unused.
 */
const ZOD_MINI_AS_NAMESPACE = [
  "error",
  {
    selector: "ImportDeclaration[source.value='zod']",
    message: 'import * as z from "zod/mini": classic zod builds each schema\'s methods at start-up',
  },
  {
    selector:
      "ImportDeclaration[source.value='zod/mini'] > :matches(ImportSpecifier, ImportDefaultSpecifier)",
    message:
      'import * as z from "zod/mini": the `z` object keeps every zod export in the action bundle',
  },
];

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      "actions/*/dist/**",
      "sandbox-out/**",
      "coverage/**",
      // Node 22 and Node 24 for the two test runs, installed by .ci/run
      ".ci/node22/**",
      ".ci/node24/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "no-console": "off",
    },
  },
  { files: [`${ENGINE}/**/*.ts`], rules: { "no-restricted-imports": engineBoundary() } },
  {
    files: ["actions/dkim-rotation/src/**/*.ts"],
    rules: { "no-restricted-syntax": ZOD_MINI_AS_NAMESPACE },
  },
  { files: ["infra/**/*.ts"], rules: { "no-restricted-imports": infraBoundary() } },
);
