import { timeOrderedIdKind } from "../payments";

/** Webhook event ids (`evt_…`): made when an event is recorded, matched in paths and cursors. */
export const EVENT_ID = timeOrderedIdKind("evt");
