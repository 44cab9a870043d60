import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { moduleFolders, REPO_ROOT, tableDefinitions } from "../support/module-sources";

interface ModuleRow {
  module: string;
  tables: string[];
}

/** The rows of the table under "## Modules" in docs/ARCHITECTURE.md: `| \`name/\` | what | tables | may import |`. */
function documentedModules(): ModuleRow[] {
  const document = readFileSync(join(REPO_ROOT, "docs/ARCHITECTURE.md"), "utf8");
  const section = document.split(/^## /m).find((part) => part.startsWith("Modules\n"));
  if (!section) throw new Error('docs/ARCHITECTURE.md has no "## Modules" section');
  const rows = section
    .split("\n")
    .map((line) => line.match(/^\|\s*`([^`/]+)\/`\s*\|[^|]*\|([^|]*)\|/))
    .filter((match) => match !== null)
    .map((match) => ({ module: match[1] as string, tables: [...(match[2] as string).matchAll(/`([^`]+)`/g)].map((t) => t[1] as string).sort() }));
  if (rows.length === 0) throw new Error("docs/ARCHITECTURE.md: the module table has no rows");
  return rows;
}

describe("docs/ARCHITECTURE.md module table", () => {
  it("has one row per folder under modules/, and no row for a folder that does not exist", () => {
    const rows = documentedModules().map((row) => row.module);
    const folders = moduleFolders();
    expect({ undocumented: folders.filter((f) => !rows.includes(f)), notAFolder: rows.filter((r) => !folders.includes(r)) }).toEqual({
      undocumented: [],
      notAFolder: [],
    });
    expect(new Set(rows).size).toBe(rows.length);
  });

  it("lists each table under the module whose folder defines its pgTable", () => {
    const documented = Object.fromEntries(documentedModules().map((row) => [row.module, row.tables]));
    const defined: Record<string, string[]> = {};
    for (const { module, table } of tableDefinitions()) (defined[module] ??= []).push(table);
    for (const tables of Object.values(defined)) tables.sort();
    const owners = new Set([...Object.keys(defined), ...Object.keys(documented)]);
    const mismatches = [...owners]
      .sort()
      .filter((module) => JSON.stringify(documented[module] ?? []) !== JSON.stringify(defined[module] ?? []))
      .map((module) => ({ module, documented: documented[module] ?? [], defined: defined[module] ?? [] }));
    expect(mismatches).toEqual([]);
  });
});
