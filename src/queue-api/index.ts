// The Marconi-style queue API (spec/queue-api.md): the server the broker hosts, its store, and
// the client.
export { DEFAULT_QUEUE_API_ADDRESS } from "./address.js";
export { QueueServer, type QueueServerOptions, type QueueServerCounters } from "./server.js";
export { QueueStore, type StoreOptions } from "./store.js";
export { QueueApi } from "./api.js";
export { ApiError } from "./errors.js";
export { LIMITS, DEFAULT_CAPACITY, type CapacityOptions } from "./limits.js";
export { staticTokens, parseTokenList, type TokenVerifier, type AuthRequest as QueueAuthRequest } from "./auth.js";
export {
  QueueClient,
  QueueClientError,
  type QueueClientOptions,
  type QueueClientErrorCode,
  type QueueMessage,
  type QueueClaim,
  type QueueStats,
  type QueueReply,
  type PostItem,
} from "./client.js";
