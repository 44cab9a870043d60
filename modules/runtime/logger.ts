/**
 * What modules log through: the composition root passes its pino logger (or a child of it), tests
 * a silent one. Structured fields first, then the message, as pino takes them.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
