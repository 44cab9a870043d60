/**
 * Masks the password of every URL-like `scheme://user:password@host` (or `user:password@host`, a
 * Kafka broker) in a text as `user:***@host`: configuration errors, logs and banners name the user
 * and the host, which operators need, and never the password (SECURITY.md). Works on text, not on
 * parsed URLs, so a malformed value that no URL parser accepts is masked too.
 *
 * A credential runs from a word boundary (start, whitespace, quote, comma, `=`, `/`) to
 * the last `@` before the host; its first `:` separates the user from the password.
 */
const CREDENTIAL = /(^|[\s"'`,=(<[/])([^\s"'`,=(<[\]/:@]*):(?!\/\/)([^\s"'`,]*)@(?=[^\s"'`,@]*(?:[\s"'`,)>\]]|$))/g;

export function maskCredentials(text: string): string {
  return text.replace(CREDENTIAL, (_match, before: string, user: string) => `${before}${user}:***@`);
}
