import { createHash } from "node:crypto";
import dashboardHtml from "./page.html" with { type: "text" };
import signInHtml from "./sign-in.html" with { type: "text" };

export interface HtmlPage {
  html: string;
  /** Allows exactly the page's own inline <style> and <script> (by hash), and connections back to this origin. */
  contentSecurityPolicy: string;
}

const hashesOf = (html: string, tag: "script" | "style") =>
  [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))]
    .map((match) => `'sha256-${createHash("sha256").update(match[1] ?? "").digest("base64")}'`)
    .join(" ");

function htmlPage(html: string): HtmlPage {
  const scripts = hashesOf(html, "script");
  return {
    html,
    contentSecurityPolicy: [
      "default-src 'none'",
      `style-src ${hashesOf(html, "style")}`,
      `script-src ${scripts || "'none'"}`,
      "connect-src 'self'",
      "img-src 'self' data:",
      "form-action 'self'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  };
}

// bun-types declares every .html import as an HTML bundle; `with { type: "text" }` makes it the file's text.
export const dashboardPage = htmlPage(dashboardHtml as unknown as string);
const signInTemplate = signInHtml as unknown as string;
const signInPolicy = htmlPage(signInTemplate).contentSecurityPolicy;

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/**
 * The sign-in form, with what went wrong the last time. It never repeats what was typed: the
 * key field comes back empty, so a key is in no page that is sent back.
 */
export function signInPage(message?: string): HtmlPage {
  const notice = message ? `  <p class="error" role="alert" data-testid="sign-in-error">${escapeHtml(message)}</p>` : "";
  // Only the body changes; the inline style and script, and so the policy's hashes, stay the same.
  return { html: signInTemplate.replace("<!--message-->", notice), contentSecurityPolicy: signInPolicy };
}
