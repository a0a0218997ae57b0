// JournalError, the error every journal module throws, and a helper for node's error codes.
// Apart from journal.ts so that journal-format.ts and dir-lock.ts can throw it without a cycle.

export type JournalErrorCode =
  | "EJOURNALCORRUPT" // the file is damaged other than by a torn tail
  | "EJOURNALLOCKED" // another live process (or this one) has the directory open
  | "EJOURNALIO" // a file operation failed; after a failed append the journal stays failed
  | "EJOURNALCLOSED" // the journal was closed
  | "EJOURNALRECORD"; // this record cannot be journaled (not encodable, or over 64 MiB); the journal is unaffected

export class JournalError extends Error {
  override readonly name = "JournalError";
  readonly code: JournalErrorCode;
  /** The file concerned, where there is one. */
  readonly file: string | undefined;
  /** EJOURNALCORRUPT: byte offset of the damage. */
  readonly offset: number | undefined;
  /** EJOURNALLOCKED: the pid holding the lock. */
  readonly pid: number | undefined;

  constructor(
    code: JournalErrorCode,
    message: string,
    details: { file?: string; offset?: number; pid?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.file = details.file;
    this.offset = details.offset;
    this.pid = details.pid;
  }
}

/** The code of a failed file operation's error (ENOENT, EEXIST, ...), if it has one. */
export const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
