import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { moduleFolders, moduleSources, REPO_ROOT, tableDefinitions } from "../support/module-sources";

interface ModuleRow {
  module: string;
  tables: string[];
  /** The modules it may import ("—": none). */
  mayImport: string[];
}

/** The rows of the table under "## Modules" in docs/ARCHITECTURE.md: `| \`name/\` | what | tables | may import |`. */
function documentedModules(): ModuleRow[] {
  const document = readFileSync(join(REPO_ROOT, "docs/ARCHITECTURE.md"), "utf8");
  const section = document.split(/^## /m).find((part) => part.startsWith("Modules\n"));
  if (!section) throw new Error('docs/ARCHITECTURE.md has no "## Modules" section');
  const rows = section
    .split("\n")
    .map((line) => line.match(/^\|\s*`([^`/]+)\/`\s*\|[^|]*\|([^|]*)\|([^|]*)\|/))
    .filter((match) => match !== null)
    .map((match) => ({
      module: match[1] as string,
      tables: namesIn(match[2] as string),
      mayImport: namesIn(match[3] as string),
    }));
  if (rows.length === 0) throw new Error("docs/ARCHITECTURE.md: the module table has no rows");
  return rows;
}

const namesIn = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((name) => name[1] as string).sort();

/** Which other modules each module's files import (type-only imports included), from the import declarations themselves. */
function importedModules(): Record<string, string[]> {
  const imported: Record<string, Set<string>> = {};
  for (const { module, path, source } of moduleSources()) {
    const set = (imported[module] ??= new Set());
    for (const statement of source.statements) {
      if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) || !statement.moduleSpecifier) continue;
      const specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
      if (!specifier.startsWith(".")) continue;
      const target = join(path, "..", specifier).split("\\").join("/").split("/");
      if (target[0] === "modules" && target[1] && target[1] !== module) set.add(target[1]);
    }
  }
  return Object.fromEntries(Object.entries(imported).map(([module, set]) => [module, [...set].sort()]));
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

  it("names, for each module, every other module its files import: an import the table does not allow fails", () => {
    const allowed = Object.fromEntries(documentedModules().map((row) => [row.module, row.mayImport]));
    const undeclared = Object.entries(importedModules())
      // "any module may import `money/`" (the bottom floor)
      .map(([module, imports]) => ({ module, notAllowed: imports.filter((other) => other !== "money" && !(allowed[module] ?? []).includes(other)) }))
      .filter((entry) => entry.notAllowed.length > 0);
    expect(undeclared).toEqual([]);
  });
});
