import { describe, expect, it } from "bun:test";
import ts from "typescript";
import { type ModuleSource, moduleSources, type TableDefinition, tableDefinitions } from "../support/module-sources";

/**
 * A table is written only by its owning module, the one whose folder defines its pgTable
 * (docs/ARCHITECTURE.md). Work that must be atomic across modules composes the owners' functions.
 */

interface TableWrite {
  path: string;
  line: number;
  /** `.update(payments)`, `insert into ${outbox}`, … as written. */
  write: string;
  /** The constant or SQL name the write names. */
  target: string;
  /** Whether `target` is a drizzle constant (else an SQL name written into the statement). */
  byConstant: boolean;
}

const DRIZZLE_WRITES = new Set(["insert", "update", "delete"]);
/** The database module's batched insert: its first argument is the table written. */
const TABLE_FIRST_WRITERS = new Set(["jsonRowsInsert"]);
/** `insert into t`, `update t`, `delete from t`, the table plain, quoted or interpolated (`${t}`). */
const SQL_WRITE = /\b(insert\s+into|update|delete\s+from)\s+(?:\$\{\s*([A-Za-z_$][\w$]*)\s*\}|"?([a-z_][a-z0-9_]*)"?)/gi;

/** A template as written, its interpolations kept as `${…}`, so the SQL around them reads as SQL. */
function templateText(node: ts.TemplateExpression): string {
  return node.head.text + node.templateSpans.map((span) => `\${${span.expression.getText()}}${span.literal.text}`).join("");
}

/** The called name of a call whose first argument is the table it writes: `db.update(t)`, `jsonRowsInsert(t, rows)`. */
function writerOf(call: ts.CallExpression): ts.Identifier | ts.PrivateIdentifier | null {
  const callee = call.expression;
  if (ts.isPropertyAccessExpression(callee) && DRIZZLE_WRITES.has(callee.name.text)) return callee.name;
  if (ts.isIdentifier(callee) && TABLE_FIRST_WRITERS.has(callee.text)) return callee;
  return null;
}

function writesIn({ path, source }: ModuleSource): TableWrite[] {
  const writes: TableWrite[] = [];
  // Local names of imported bindings (`import { payments as p }`): a write to `p` is a write to `payments`.
  const imported = new Map<string, string>();
  const line = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
  const constantOf = (name: string) => imported.get(name) ?? name;
  const visit = (node: ts.Node) => {
    if (ts.isImportSpecifier(node)) imported.set(node.name.text, (node.propertyName ?? node.name).text);
    if (ts.isCallExpression(node)) {
      const writer = writerOf(node);
      const [first] = node.arguments;
      if (writer && first && ts.isIdentifier(first))
        writes.push({ path, line: line(writer), write: `${writer.text}(${first.text})`, target: constantOf(first.text), byConstant: true });
    }
    const text = ts.isTemplateExpression(node) ? templateText(node) : ts.isStringLiteralLike(node) ? node.text : null;
    if (text !== null)
      for (const match of text.matchAll(SQL_WRITE)) {
        const [write, , interpolated, named] = match;
        const at = { path, line: line(node) + (text.slice(0, match.index).match(/\n/g)?.length ?? 0), write: write.replace(/\s+/g, " ") };
        if (interpolated) writes.push({ ...at, target: constantOf(interpolated), byConstant: true });
        else if (named) writes.push({ ...at, target: named, byConstant: false });
      }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return writes;
}

/** Every write in `sources` to a table of `tables`, with the module that writes it and the table's owner. */
function tableWritesOf(sources: ModuleSource[], tables: TableDefinition[]) {
  const byConstant = new Map(tables.map((t) => [t.constant, t]));
  const bySqlName = new Map(tables.map((t) => [t.table, t]));
  // Names that are neither a table's constant nor its SQL name (`.delete(id)` on a Map, `update set` in ON CONFLICT) are not table writes.
  return sources.flatMap((file) =>
    writesIn(file).flatMap((write) => {
      const table = write.byConstant ? byConstant.get(write.target) : bySqlName.get(write.target);
      return table ? [{ ...write, writer: file.module, table }] : [];
    }),
  );
}

function trespasses(writes: ReturnType<typeof tableWritesOf>): string[] {
  return writes
    .filter((w) => w.writer !== w.table.module)
    .map((w) => `${w.path}:${w.line} ${w.write} writes ${w.table.table}, owned by ${w.table.module}/`);
}

describe("table ownership", () => {
  const sources = moduleSources();
  const tables = tableDefinitions(sources);
  const writes = tableWritesOf(sources, tables);

  it("finds the writes of every module that owns a table", () => {
    const owners = new Set(tables.map((t) => t.module));
    expect([...new Set(writes.map((w) => w.writer))].filter((m) => owners.has(m)).sort()).toEqual([...owners].sort());
  });

  it("lets only the module whose folder defines a table insert, update or delete its rows", () => {
    expect(trespasses(writes)).toEqual([]);
  });

  it("reports a write to another module's table by drizzle call, batched insert, interpolated or plain SQL, and through an import alias", () => {
    const file = (path: string, text: string): ModuleSource => ({
      module: path.split("/")[1] as string,
      path,
      source: ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true),
    });
    const fixture = [
      file("modules/ledger/schema.ts", `export const entries = pgTable("ledger_entries", {});`),
      file(
        "modules/shop/orders.ts",
        [
          `import { entries as e } from "../ledger";`,
          "db.update(entries).set({});",
          "jsonRowsInsert(entries, rows);",
          "sql`with x as (select 1)\n  delete from ${e} where true`;",
          `sql\`INSERT INTO "ledger_entries" (id) values (1)\`;`,
          "seen.delete(entries.id); sql`select 1 for update skip locked`;",
        ].join("\n"),
      ),
    ];
    expect(trespasses(tableWritesOf(fixture, tableDefinitions(fixture)))).toEqual([
      "modules/shop/orders.ts:2 update(entries) writes ledger_entries, owned by ledger/",
      "modules/shop/orders.ts:3 jsonRowsInsert(entries) writes ledger_entries, owned by ledger/",
      "modules/shop/orders.ts:5 delete from ${e} writes ledger_entries, owned by ledger/",
      'modules/shop/orders.ts:6 INSERT INTO "ledger_entries" writes ledger_entries, owned by ledger/',
    ]);
  });
});
