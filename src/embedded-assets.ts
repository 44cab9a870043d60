/**
 * Everything the program loads from files besides its own code, imported so that
 * `bun build --compile` embeds it in the binary. From source the same imports resolve to the files
 * in node_modules/ and drizzle/, so both ways run one code path.
 */
import { readFileSync } from "node:fs";
import type { PGliteOptions } from "@electric-sql/pglite";
import initdbWasmPath from "@electric-sql/pglite/initdb.wasm" with { type: "file" };
import pgliteFsBundlePath from "@electric-sql/pglite/pglite.data" with { type: "file" };
import pgliteWasmPath from "@electric-sql/pglite/pglite.wasm" with { type: "file" };
import type { MigrationMeta } from "drizzle-orm/migrator";
import swaggerUiBundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiCssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import { committedMigrations } from "./migrations-macro" with { type: "macro" };

/** Swagger UI's files, served under /docs/assets/ (nothing of the page comes from elsewhere). */
export const SWAGGER_UI_ASSETS = { bundle: swaggerUiBundlePath, css: swaggerUiCssPath };

/** The drizzle migrations of drizzle/, in journal order. */
export const MIGRATIONS: MigrationMeta[] = committedMigrations();

type PgliteAssets = Required<Pick<PGliteOptions, "pgliteWasmModule" | "initdbWasmModule" | "fsBundle">>;
let pgliteAssets: PgliteAssets | undefined;

/**
 * PGlite otherwise locates its wasm and data files next to its own module, which inside a compiled
 * binary is a virtual directory holding none of them. Compiled once per process (about 0.25 s),
 * synchronously because PGlite takes its options in the constructor, and shared by every instance.
 */
export function pgliteOptions(): PgliteAssets {
  pgliteAssets ??= {
    pgliteWasmModule: new WebAssembly.Module(readFileSync(pgliteWasmPath)),
    initdbWasmModule: new WebAssembly.Module(readFileSync(initdbWasmPath)),
    fsBundle: Bun.file(pgliteFsBundlePath),
  };
  return pgliteAssets;
}
