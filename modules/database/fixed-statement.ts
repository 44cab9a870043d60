import { is, Param, Placeholder, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Executor } from "./handle";

type Placeholders<Name extends string> = { [K in Name]: Placeholder<K> };

/** The text of a statement cut at its parameters, and what goes between the cuts. */
interface Compiled {
  texts: string[];
  /** A placeholder's name (filled at each call), or a constant built into the statement. */
  params: ({ name: string } | { value: unknown })[];
}

/**
 * A statement whose text depends only on its shape, built once. drizzle rebuilds a statement
 * from its parts at every call (every column of a RETURNING, every clause of a guard): measured
 * at 66–151 µs of the worker's CPU per claim or outcome batch, about as much as the rest of the
 * batch's work in the worker. `build` receives a placeholder for each value that changes between
 * calls; the result, given those values, is a SQL of a few parts (the text between the
 * parameters, and the parameters) that runs on any executor, a transaction's included. Rows come
 * back raw: map them with `mapRows`.
 */
export function fixedStatement<Name extends string>(
  names: readonly Name[],
  build: (db: Executor, values: Placeholders<Name>) => SQLWrapper,
): (db: Executor, values: { [K in Name]: unknown }) => SQL {
  let compiled: Compiled | undefined;
  return (db, values) => {
    compiled ??= compile(build(db, Object.fromEntries(names.map((name) => [name, sql.placeholder(name)])) as Placeholders<Name>));
    const { texts, params } = compiled;
    const parts: SQL[] = [sql.raw(texts[0] as string)];
    params.forEach((param, i) => {
      parts.push(sql`${"name" in param ? values[param.name as Name] : param.value}`, sql.raw(texts[i + 1] as string));
    });
    return sql.join(parts);
  };
}

function compile(statement: SQLWrapper): Compiled {
  const query = new PgDialect().sqlToQuery(statement.getSQL());
  const texts = query.sql.split(/\$\d+/);
  if (texts.length !== query.params.length + 1) throw new Error("a fixed statement must not hold a literal `$<digits>` outside its parameters");
  const params = query.params.map((param) => {
    const placeholder = is(param, Placeholder) ? param : is(param, Param) && is(param.value, Placeholder) ? param.value : undefined;
    return placeholder ? { name: placeholder.name } : { value: param };
  });
  return { texts, params };
}
