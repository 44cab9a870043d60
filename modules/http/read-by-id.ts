import { jsonResponse } from "./json-response";
import type { MerchantGuard } from "./merchant-guard";
import { Problem } from "./problem";
import { type IdShape, pathIdOf, takeNoQueryParameters } from "./request-input";

/**
 * The handler of `GET …/:id` for a merchant's own resource (a payment, a refund): 200 with it, or
 * 404 — the same 404 for an id that cannot be one, an unknown one, and another merchant's, which
 * must be indistinguishable from a missing one.
 */
export function readByIdHandler<T>(
  merchantOf: MerchantGuard,
  kind: IdShape,
  noun: string,
  find: (merchantId: string, id: string) => Promise<T | undefined>,
) {
  return async ({ request, params }: { request: Request; params: { id: string } }) => {
    const merchant = merchantOf(request);
    takeNoQueryParameters(request);
    const id = pathIdOf(params.id, kind, noun);
    const found = await find(merchant.id, id);
    if (found === undefined) throw new Problem("not_found", `No ${noun} ${id}`);
    return jsonResponse(found);
  };
}
