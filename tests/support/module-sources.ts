import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

/** What the architecture tests read: the folders under modules/, their source files, and the tables each defines. */

export const REPO_ROOT = join(import.meta.dir, "../..");
const MODULES_DIR = join(REPO_ROOT, "modules");

export function moduleFolders(): string[] {
  return readdirSync(MODULES_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

export interface ModuleSource {
  /** The folder directly under modules/ the file belongs to. */
  module: string;
  /** Relative to the repository, with forward slashes: `modules/payments/repository.ts`. */
  path: string;
  source: ts.SourceFile;
}

/** Every TypeScript file under modules/, parsed. */
export function moduleSources(): ModuleSource[] {
  return readdirSync(MODULES_DIR, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
    .sort()
    .map((file) => {
      const absolute = join(MODULES_DIR, file);
      const path = relative(REPO_ROOT, absolute).split("\\").join("/");
      const source = ts.createSourceFile(path, readFileSync(absolute, "utf8"), ts.ScriptTarget.Latest, true);
      return { module: path.split("/")[1] as string, path, source };
    });
}

export interface TableDefinition {
  /** The table's SQL name. */
  table: string;
  /** The constant the drizzle table is bound to (`export const payments = pgTable("payments", …)`). */
  constant: string;
  /** The owner: the module whose folder defines the table. */
  module: string;
  path: string;
}

/** Every `const x = pgTable("name", …)` under modules/. */
export function tableDefinitions(sources: ModuleSource[] = moduleSources()): TableDefinition[] {
  const definitions: TableDefinition[] = [];
  for (const { module, path, source } of sources) {
    const visit = (node: ts.Node) => {
      if (
        ts.isVariableDeclaration(node) &&
        ts.isIdentifier(node.name) &&
        node.initializer &&
        ts.isCallExpression(node.initializer) &&
        ts.isIdentifier(node.initializer.expression) &&
        node.initializer.expression.text === "pgTable"
      ) {
        const [name] = node.initializer.arguments;
        if (!name || !ts.isStringLiteralLike(name)) throw new Error(`${path}: pgTable without a literal table name`);
        definitions.push({ table: name.text, constant: node.name.text, module, path });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return definitions;
}
