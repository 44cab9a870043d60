/** One invalid field of a request. */
export interface FieldError {
  field: string;
  code: string;
  message: string;
}

/** Every error code this API answers with, and its HTTP status: one closed table. */
export const PROBLEM_TYPES = {
  malformed_request: { status: 400, title: "Malformed request" },
  invalid_signature: { status: 400, title: "Missing or invalid gateway signature" },
  unauthorized: { status: 401, title: "Missing or unknown API key" },
  not_found: { status: 404, title: "Not found" },
  idempotency_key_reused: { status: 409, title: "Idempotency key reused with a different request" },
  invalid_state: { status: 409, title: "Not possible in the payment's current status" },
  refund_exceeds_captured: { status: 409, title: "Refund exceeds the captured amount" },
  payload_too_large: { status: 413, title: "Request body too large" },
  unsupported_media_type: { status: 400, title: "Unsupported content type" },
  validation: { status: 422, title: "Invalid payment request" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal error" },
  dependency_unavailable: { status: 503, title: "A dependency is unavailable" },
  commit_unknown: { status: 503, title: "The write may or may not have been applied" },
} as const;

export type ProblemType = keyof typeof PROBLEM_TYPES;

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemType;
  errors?: FieldError[];
  requestId?: string;
}

/** An expected HTTP-level failure; the app's error handler renders it as RFC 9457 problem+json. */
export class Problem extends Error {
  readonly status: number;

  constructor(
    readonly type: ProblemType,
    readonly detail: string,
    /** `title` overrides the type's default title where the type is shared (422 is not only about payments). */
    readonly options: { errors?: FieldError[]; retryAfterSeconds?: number; title?: string } = {},
  ) {
    super(detail);
    this.status = PROBLEM_TYPES[type].status;
  }

  body(requestId?: string): ProblemBody {
    return {
      type: `/errors/${this.type.replaceAll("_", "-")}`,
      title: this.options.title ?? PROBLEM_TYPES[this.type].title,
      status: this.status,
      detail: this.detail,
      code: this.type,
      ...(this.options.errors ? { errors: this.options.errors } : {}),
      ...(requestId ? { requestId } : {}),
    };
  }

  toResponse(requestId?: string): Response {
    const headers: Record<string, string> = { "content-type": "application/problem+json" };
    if (this.options.retryAfterSeconds !== undefined) headers["retry-after"] = String(this.options.retryAfterSeconds);
    return new Response(JSON.stringify(this.body(requestId)), { status: this.status, headers });
  }
}

/** The 422 naming every invalid field of a request. */
export function validationProblem(errors: FieldError[], title?: string): Problem {
  const detail = errors.length === 1 ? "1 field is invalid" : `${errors.length} fields are invalid`;
  return new Problem("validation", detail, { errors, ...(title ? { title } : {}) });
}
