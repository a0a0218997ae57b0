// What the queue API answers when a request cannot be served. The status is the v1 HTTP status
// carried in the reply's `status`; title and description become the `{title, description}` error
// body that Marconi v1 clients expect. `code` is the same status as a string ("E400", ...), so the
// error fits the rest of emq where every error has a `code`.

export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly title: string;
  readonly description: string;
  readonly code: string;
  /** Extra reply headers (Allow with 405, Retry-After with 503). */
  readonly headers: Record<string, string>;

  constructor(status: number, title: string, description: string, headers: Record<string, string> = {}) {
    super(`${status} ${title}: ${description}`);
    this.status = status;
    this.title = title;
    this.description = description;
    this.code = `E${status}`;
    this.headers = headers;
  }

  /** The error document sent as the reply body. */
  body(): { title: string; description: string } {
    return { title: this.title, description: this.description };
  }
}

// The titles Marconi v1 uses, so clients that match on them keep working.
export const TITLE = {
  invalidCall: "Invalid API call",
  invalidBody: "Invalid request body",
  invalidQueue: "Invalid queue identification",
  emptyProject: "Empty project header not allowed",
  missingHeader: "Missing header",
  invalidParameter: "Invalid parameter",
  unauthorized: "Authentication required",
  unableToDelete: "Unable to delete",
  notFound: "Not found",
  notAllowed: "Method not allowed",
  notAcceptable: "Media type not acceptable",
  unavailable: "Service temporarily unavailable",
} as const;

export const invalidCall = (description: string): ApiError => new ApiError(400, TITLE.invalidCall, description);
export const invalidBody = (description: string): ApiError => new ApiError(400, TITLE.invalidBody, description);
export const notFound = (description: string): ApiError => new ApiError(404, TITLE.notFound, description);
export const unavailable = (description: string): ApiError =>
  new ApiError(503, TITLE.unavailable, description, { "Retry-After": "30" });
