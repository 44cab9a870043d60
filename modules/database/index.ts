/** The database module's public face: the handle, executors, group-commit batcher, fixed statements and row helpers; no domain. */
export { type Database, type Executor, type ListenToChannel, queryRows } from "./handle";
export { isConnectionError, mayHaveCommitted } from "./connection-errors";
export { Batcher, type BatcherOptions } from "./batcher";
export { fixedStatement } from "./fixed-statement";
export { type IdFilter, type InsertDefaults, inJsonList, insertDefaults, jsonList, jsonRowsInsert, type JsonRowsOptions, mapRows } from "./json-rows";
