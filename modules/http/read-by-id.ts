import { jsonResponse } from "./json-response";
import type { MerchantGuard } from "./merchant-guard";
import { Problem } from "./problem";
import { type IdShape, pathIdOf, QueryParameters, takeNoQueryParameters } from "./request-input";

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

/**
 * The handler of `GET …/:id/<children>` (a payment's refunds, its disputes): a page of the
 * parent's children, newest first, with `limit` and `startingAfter` (an id of the child kind), or
 * 404 when the parent is not the merchant's (`list` answers undefined).
 */
export function childListHandler<T>(
  merchantOf: MerchantGuard,
  parent: { kind: IdShape; noun: string },
  child: IdShape,
  list: (merchantId: string, parentId: string, query: { limit: number; startingAfter: string | undefined }) => Promise<T | undefined>,
) {
  return async ({ request, params }: { request: Request; params: { id: string } }) => {
    const merchant = merchantOf(request);
    // The path names what is listed: an id that cannot be the parent's is 404 whatever the query.
    const parentId = pathIdOf(params.id, parent.kind, parent.noun);
    const query = new QueryParameters(request, ["limit", "startingAfter"]);
    const limit = query.limit();
    const startingAfter = query.id("startingAfter", child);
    query.finish();
    const page = await list(merchant.id, parentId, { limit, startingAfter });
    if (page === undefined) throw new Problem("not_found", `No ${parent.noun} ${parentId}`);
    return jsonResponse(page);
  };
}
