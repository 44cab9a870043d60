// PGlite's runtime files, imported `with { type: "file" }`: Bun hands over a path that is readable
// from source and from inside a compiled binary.
declare module "@electric-sql/pglite/pglite.wasm" {
  const path: string;
  export default path;
}
declare module "@electric-sql/pglite/initdb.wasm" {
  const path: string;
  export default path;
}
declare module "@electric-sql/pglite/pglite.data" {
  const path: string;
  export default path;
}
