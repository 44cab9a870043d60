import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cruise, type ICruiseResult, type IForbiddenRuleType, type IViolation } from "dependency-cruiser";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { REPO_ROOT } from "../support/module-sources";

/**
 * The house rules on imports (docs/ARCHITECTURE.md, "Rules the suite enforces"), checked by
 * dependency-cruiser over modules/ and src/. Type-only imports count: they couple modules too.
 */
const RULES = [
  { name: "no-import-cycle", severity: "error", from: {}, to: { circular: true } },
  {
    name: "modules-import-each-other-through-index",
    severity: "error",
    from: { path: "^modules/([^/]+)/" },
    to: { path: "^modules/", pathNot: ["^modules/$1/", "^modules/[^/]+/index\\.ts$"] },
  },
  { name: "modules-do-not-import-src", severity: "error", from: { path: "^modules/" }, to: { path: "^src/" } },
  {
    name: "database-files-do-not-import-database-index",
    severity: "error",
    from: { path: "^modules/database/", pathNot: "^modules/database/index\\.ts$" },
    to: { path: "^modules/database/index\\.ts$" },
  },
  // A relative import the cruiser cannot follow would leave its edge out of every rule above.
  { name: "relative-imports-resolve", severity: "error", from: {}, to: { couldNotResolve: true, path: "^\\.\\.?/" } },
] satisfies IForbiddenRuleType[];

type RuleName = (typeof RULES)[number]["name"];

/** A cruise of the repository takes a few seconds alone, longer on a busy machine than bun's default hook timeout. */
const CRUISE_TIMEOUT_MS = 60_000;

async function cruiseTree(root: string): Promise<ICruiseResult> {
  const result = await cruise(
    ["modules", "src"],
    {
      baseDir: root,
      validate: true,
      ruleSet: { forbidden: RULES },
      tsPreCompilationDeps: true,
      tsConfig: { fileName: "tsconfig.json" },
      doNotFollow: { path: "node_modules" },
      enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
    },
    undefined,
    { tsConfig: extractTSConfig(join(root, "tsconfig.json")) },
  );
  return result.output as ICruiseResult;
}

/** A cycle is reported once per edge on it; written from its smallest file, each cycle reads the same every time. */
function cycleText(files: string[]): string {
  const start = files.indexOf([...files].sort()[0] as string);
  const rotated = [...files.slice(start), ...files.slice(0, start)];
  return [...rotated, rotated[0]].join(" → ");
}

function violationsOf(result: ICruiseResult, rule: RuleName): string[] {
  const texts = result.summary.violations
    .filter((v: IViolation) => v.rule.name === rule)
    .map((v: IViolation) => (v.cycle ? cycleText(v.cycle.map((step) => step.name)) : `${v.from} → ${v.to}`));
  return [...new Set(texts)].sort();
}

describe("import rules of the house", () => {
  let result: ICruiseResult;
  beforeAll(async () => {
    result = await cruiseTree(REPO_ROOT);
  }, CRUISE_TIMEOUT_MS);

  it("cruises every source file of modules/ and src/", () => {
    expect(result.summary.totalCruised).toBeGreaterThan(100);
  });

  it("has no import cycle, within a module or across modules", () => {
    expect(violationsOf(result, "no-import-cycle")).toEqual([]);
  });

  it("lets a file of one module import another module only through that module's index.ts", () => {
    expect(violationsOf(result, "modules-import-each-other-through-index")).toEqual([]);
  });

  it("never lets a module import src/", () => {
    expect(violationsOf(result, "modules-do-not-import-src")).toEqual([]);
  });

  it("never lets a file of modules/database/ import modules/database/index.ts", () => {
    expect(violationsOf(result, "database-files-do-not-import-database-index")).toEqual([]);
  });

  it("resolves every relative import, so no edge escapes the rules", () => {
    expect(violationsOf(result, "relative-imports-resolve")).toEqual([]);
  });
});

describe("import rules on a tree that breaks each of them", () => {
  const FILES: Record<string, string> = {
    "tsconfig.json": JSON.stringify({ compilerOptions: { module: "ESNext", moduleResolution: "bundler", strict: true } }),
    "src/main.ts": `import { a } from "../modules/alpha";\nexport const main = a;`,
    "modules/alpha/index.ts": `export { a } from "./a";`,
    "modules/alpha/a.ts": `import { inner } from "../beta/inner";\nimport { b } from "../beta";\nexport const a = inner + b;`,
    "modules/beta/index.ts": `export { b } from "./b";\nexport { inner } from "./inner";`,
    "modules/beta/b.ts": `import type { Main } from "../../src/types";\nimport { a } from "../alpha";\nexport const b: Main = a;`,
    "modules/beta/inner.ts": `import { missing } from "./missing";\nexport const inner = missing;`,
    "src/types.ts": `export type Main = number;`,
    "modules/database/index.ts": `export { batch } from "./batch";\nexport const handle = 1;`,
    "modules/database/batch.ts": `import { handle } from "./index";\nexport const batch = handle;`,
  };
  let root: string;
  let result: ICruiseResult;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "paystream-import-rules-"));
    for (const [path, text] of Object.entries(FILES)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    result = await cruiseTree(root);
  }, CRUISE_TIMEOUT_MS);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("reports each kind of violation the suite forbids", () => {
    expect(violationsOf(result, "modules-import-each-other-through-index")).toEqual(["modules/alpha/a.ts → modules/beta/inner.ts"]);
    expect(violationsOf(result, "modules-do-not-import-src")).toEqual(["modules/beta/b.ts → src/types.ts"]);
    expect(violationsOf(result, "database-files-do-not-import-database-index")).toEqual(["modules/database/batch.ts → modules/database/index.ts"]);
    expect(violationsOf(result, "relative-imports-resolve")).toEqual(["modules/beta/inner.ts → ./missing"]);
    const cycles = violationsOf(result, "no-import-cycle");
    expect(cycles.some((cycle) => cycle.includes("modules/alpha/a.ts") && cycle.includes("modules/beta/b.ts"))).toBe(true);
    expect(cycles.some((cycle) => cycle.includes("modules/database/batch.ts"))).toBe(true);
  });
});
