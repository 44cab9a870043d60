export declare const RUNTIME_ENV: Readonly<Record<string, string>>;
export declare function withRuntimeEnv<T extends Record<string, string | undefined>>(env: T): T & Record<string, string>;
