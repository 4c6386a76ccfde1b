/**
 * The committed bundle is split into chunks (docs/design.md#action-bundle):
 * its size counts every chunk, `status` loads no other command's code, and
 * check-dist compares every file of dist/.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { build } from "esbuild";
import { generateDkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import { probeSignature } from "../actions/dkim-rotation/src/engine/probe";
import { dkimRecordValue } from "../actions/dkim-rotation/src/engine/record";
import { ESLint } from "eslint";
import {
  actionBuildOptions,
  BOWSER_STUB,
  ACTION_BANNER,
  inlineBuiltinChunks,
  JOI_STUB,
} from "../scripts/action-bundle.mjs";
import { BUNDLE, bundleSizes } from "../scripts/bench/startup";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = dirname(BUNDLE);

describe("action bundle (dist/, split into chunks)", function () {
  this.timeout(120_000);

  // The goal (docs/benchmarks.md, start-up and size).
  it("counts every chunk, and all of them together stay within 2 MB", function () {
    const sizes = bundleSizes();
    const js = readdirSync(DIST).filter((f) => f.endsWith(".js"));
    expect(sizes.files).to.equal(js.length);
    expect(js.length).to.be.greaterThan(1);
    expect(sizes.totalBytes).to.be.at.most(2e6);
  });

  it("status loads no chunk of another command (activation, plan, GitHub, doctor, gate, retire)", function () {
    // The entry and its static imports: what `node dist/index.js` loads before any import().
    const { loaded } = bundleSizes();
    expect(loaded).to.include("index.js");
    const commandChunk =
      /^(activate|plan|github|doctor|gate|retire|follow-up|kms|route53|sns|cloudwatch|caller)-/;
    expect(loaded.filter((f) => commandChunk.test(f))).to.deep.equal([]);
    // What status loads is a fraction of the whole.
    const sizes = bundleSizes();
    expect(sizes.loadedBytes).to.be.below(sizes.totalBytes / 2);
  });

  it("status's static imports reach no dependency of another command (report parser, canary clients, Octokit, mailauth)", async function () {
    const out = mkdtempSync(join(tmpdir(), "dkim-bundle-meta-"));
    try {
      const { metafile } = await build({
        ...actionBuildOptions(ROOT, "actions/dkim-rotation/src/index.ts"),
        outdir: out,
        minify: true,
        metafile: true,
        preserveSymlinks: true,
        logLevel: "error",
      });
      // What `node dist/index.js` evaluates before any import(): the entry and its static imports.
      const seen = new Set<string>();
      const todo = Object.keys(metafile.outputs).filter((f) => f.endsWith("/index.js"));
      while (todo.length) {
        const f = todo.pop()!;
        if (seen.has(f)) continue;
        seen.add(f);
        for (const i of metafile.outputs[f]!.imports)
          if (i.kind === "import-statement" && !i.external) todo.push(i.path);
      }
      const inputs = [...seen].flatMap((f) => Object.keys(metafile.outputs[f]!.inputs));
      const other =
        /node_modules\/(fast-xml-parser|fflate|@aws-sdk\/client-s3|@aws-sdk\/client-ses\/|@aws-sdk\/client-kms|@octokit|mailauth|tldts|libmime)\//;
      const reached = [
        ...new Set(inputs.filter((i) => other.test(i)).map((i) => other.exec(i)![1])),
      ];
      expect(reached).to.deep.equal([]);
      expect(inputs.some((i) => i.includes("@aws-sdk/client-sesv2/"))).to.equal(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("loads Node's built-ins by require(), never by an ESM import (whose facade runs lazy getters: undici under node:http), and uses no __dirname", function () {
    const names = builtinModules.map((m) => m.replace(/[/]/g, "\\/")).join("|");
    const esmImport = new RegExp(
      `(?:from\\s*|import\\s*\\(?\\s*)["'](?:node:)?(?:${names})["']`,
      "g",
    );
    const found: string[] = [];
    for (const f of readdirSync(DIST).filter((n) => n.endsWith(".js"))) {
      const text = readFileSync(join(DIST, f), "utf8");
      // The banner's own import (node:module) makes `require`.
      expect(text.startsWith(ACTION_BANNER), f).to.equal(true);
      const body = text.slice(ACTION_BANNER.length);
      for (const m of body.matchAll(esmImport)) found.push(`${f}: ${m[0]}`);
      // The banner defines neither: a chunk that used one would fail where it ran.
      for (const m of body.matchAll(/\b__(?:dirname|filename)\b/g)) found.push(`${f}: ${m[0]}`);
    }
    expect(found).to.deep.equal([]);
  });

  it("no built-in is a chunk of its own: each import of one is a require() in its importer", async function () {
    // A built-in's one-line module, as esbuild makes it a chunk when several commands share it.
    const builtinChunk =
      /^import\{[^}]*\}from"\.\/[\w-]+\.js";var \w+=\w+\(\(\w+,\w+\)=>\{(?:"use strict";)?\w+\.exports=\w+\("node:[\w/]+"\)\}\);export\{\w+ as \w+\};\s*$/;
    const shaped = (dir: string) =>
      readdirSync(dir)
        .filter((f) => f.endsWith(".js"))
        .filter((f) =>
          builtinChunk.test(readFileSync(join(dir, f), "utf8").slice(ACTION_BANNER.length + 1)),
        );
    expect(shaped(DIST)).to.deep.equal([]);
    // esbuild alone makes such chunks; inlineBuiltinChunks removes every one and every import of it.
    const out = mkdtempSync(join(tmpdir(), "dkim-bundle-inline-"));
    try {
      await build({
        ...actionBuildOptions(ROOT, "actions/dkim-rotation/src/index.ts"),
        outdir: out,
        minify: true,
        preserveSymlinks: true,
        logLevel: "error",
      });
      const before = shaped(out);
      expect(before.length).to.be.greaterThan(0);
      expect(inlineBuiltinChunks(out)).to.equal(before.length);
      expect(shaped(out)).to.deep.equal([]);
      for (const f of readdirSync(out).filter((n) => n.endsWith(".js")))
        for (const c of before)
          expect(readFileSync(join(out, f), "utf8"), f).to.not.include(`"./${c}"`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("lint refuses classic zod and a named zod/mini import in the action's sources", async function () {
    const eslint = new ESLint({ cwd: ROOT });
    const problems = async (code: string) => {
      const [r] = await eslint.lintText(code, {
        filePath: join(ROOT, "actions/dkim-rotation/src/engine/config.ts"),
      });
      return r!.messages.filter((m) => m.ruleId === "no-restricted-syntax").length;
    };
    expect(await problems('import * as z from "zod/mini";\nexport const a = z;\n')).to.equal(0);
    expect(await problems('import * as z from "zod";\nexport const a = z;\n')).to.equal(1);
    expect(await problems('import { z } from "zod/mini";\nexport const a = z;\n')).to.equal(1);
  });

  it("check-dist fails on a missing chunk and on an extra one, naming each", function () {
    const copy = mkdtempSync(join(tmpdir(), "dkim-dist-copy-"));
    try {
      cpSync(DIST, copy, { recursive: true });
      const chunk = readdirSync(copy).find((f) => /^activate-.*\.js$/.test(f))!;
      expect(chunk, "an activate chunk in dist/").to.be.a("string");
      rmSync(join(copy, chunk));
      cpSync(join(DIST, "index.js"), join(copy, "stale-chunk.js"));
      const r = spawnSync(
        process.execPath,
        ["scripts/build-action.mjs", "--check", "--outdir", copy],
        { cwd: ROOT, encoding: "utf8" },
      );
      expect(r.status).to.equal(1);
      expect(r.stderr).to.include(`${chunk} is missing`);
      expect(r.stderr).to.include("stale-chunk.js is not produced by the build");
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it("the joi stand-in answers mailauth's one schema (a DKIM key's p=) as joi does", async function () {
    // The joi mailauth itself requires, for the comparison.
    const joi = createRequire(createRequire(import.meta.url).resolve("mailauth"))("joi");
    const stub = await import(`data:text/javascript,${encodeURIComponent(JOI_STUB)}`);
    const key =
      "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuGk1UTvFcVvEMcbZ4hvrR1zvVnAh7d0lUdjrWcIGGEdixgLYVWPVaO3vpcAeaz7vYlMOdDHJpXdL" +
      "rZP4RxcrZ3U/FPfAgnXjmRZ3l6hWTgRPwDkk4tkrmRHVKhaXBUq4oW3bdYgc2KJv9ZDVr6N0KqUIGdXXNkdgKtA/DQ8NUpF4+zTUaCV1hX/r6l+4nEpmf7q+" +
      "xhQ/gWCq7ZZ5WX3HqZfVwMMTfYzRgAJ1bo9Rv8iKZNiEJ1v+1k5bfoTQDtIhNVu2uwBDYFj9uwXsTkC4Q0NM43JpADwrwFsQ3Z5Yl7fL+5iZ0m5ZhVq9GUNj" +
      "2QIDAQAB";
    const samples: unknown[] = [
      key,
      key.slice(0, -1), // 3 characters in the last group, no padding
      key.slice(0, -2), // 2
      key.slice(0, -3), // 1: never base64
      "QUJD",
      "QUI=",
      "QUI",
      "QQ==",
      "QQ",
      "Q",
      "QUJD=",
      "QU=I",
      "QUJD QUJD",
      "QUJD\nQUJD",
      "QU-_",
      "QUJD!",
      "",
      " ",
      42,
      undefined,
      null,
    ];
    for (const options of [{ paddingRequired: false }, {}, { urlSafe: true }]) {
      const real = joi.string().base64(options);
      const ours = stub.string().base64(options);
      for (const v of samples) {
        const want = real.validate(v).error?.message ?? "ok";
        const got = ours.validate(v).error?.message ?? "ok";
        expect(got, `${JSON.stringify(options)} ${JSON.stringify(v)}`).to.equal(want);
      }
    }
    // The bowser stand-in is imported without error; only a browser calls parse().
    const bowser = await import(`data:text/javascript,${encodeURIComponent(BOWSER_STUB)}`);
    expect(() => bowser.parse("Mozilla/5.0")).to.throw(/browser user agents only/);
  });

  it("the activation probe, bundled with the stand-ins, gives each server the verdict it gives from source", async function () {
    const out = mkdtempSync(join(tmpdir(), "dkim-probe-bundle-"));
    try {
      await build({
        ...actionBuildOptions(ROOT, "actions/dkim-rotation/src/engine/probe.ts"),
        outdir: out,
        preserveSymlinks: true,
        logLevel: "error",
      });
      const bundled = (await import(join(out, "index.js"))) as {
        probeSignature: typeof probeSignature;
      };
      const pair = await generateDkimKeyPair(2048);
      const other = await generateDkimKeyPair(2048);
      const servers = [
        {
          server: "ns1",
          status: "ok" as const,
          detail: "",
          value: dkimRecordValue(pair.publicKey),
        },
        {
          server: "ns2",
          status: "ok" as const,
          detail: "",
          value: dkimRecordValue(other.publicKey),
        },
        // Not base64: what joi's schema (the stand-in in the bundle) refuses.
        { server: "ns3", status: "ok" as const, detail: "", value: "v=DKIM1; k=rsa; p=QUJD!" },
        { server: "ns4", status: "ok" as const, detail: "", value: "v=DKIM1; k=rsa; p=QUJ=D" },
      ];
      const at = new Date("2027-01-04T00:00:00Z");
      const fromSource = await probeSignature("example.com", "s1", pair.sesPrivateKey, servers, at);
      const fromBundle = await bundled.probeSignature(
        "example.com",
        "s1",
        pair.sesPrivateKey,
        servers,
        at,
      );
      expect(fromSource.results.map((r) => r.result)).to.deep.equal([
        "pass",
        "fail",
        "neutral",
        "neutral",
      ]);
      expect(fromBundle).to.deep.equal(fromSource);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
