/**
 * What a browser's sign-in form sends, for tests that talk to the dashboard without a browser.
 * A header given as undefined is left out (e.g. `sec-fetch-site` for an older browser).
 */
export function signInRequest(baseUrl: string, key: string, headers: Record<string, string | undefined> = {}): Request {
  const sent = Object.entries({ "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin", ...headers }).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  return new Request(`${baseUrl}/dashboard/sign-in`, {
    method: "POST",
    headers: sent,
    body: new URLSearchParams({ key }).toString(),
    redirect: "manual",
  });
}

export interface SetCookie {
  name: string;
  value: string;
  /** Attribute names in lower case; flags map to "". */
  attributes: Map<string, string>;
}

/** The response's Set-Cookie header, parsed. */
export function setCookieOf(response: Response): SetCookie {
  const header = response.headers.get("set-cookie");
  if (!header) throw new Error(`no Set-Cookie (status ${response.status})`);
  const [pair = "", ...rest] = header.split(";").map((part) => part.trim());
  const at = pair.indexOf("=");
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf("=");
    attributes.set((eq < 0 ? part : part.slice(0, eq)).toLowerCase(), eq < 0 ? "" : part.slice(eq + 1));
  }
  return { name: pair.slice(0, at), value: pair.slice(at + 1), attributes };
}

/** The `Cookie` request header a browser would send back after a successful sign-in. */
export function cookieHeaderOf(response: Response): string {
  const { name, value } = setCookieOf(response);
  return `${name}=${value}`;
}
