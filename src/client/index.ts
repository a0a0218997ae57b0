// eMQP client roles: submit jobs to a broker's frontend (Client) and query or stop it through its
// administrative socket (Admin).
export { Client, type ClientOptions, type RequestOptions, type SendOptions, type ScheduleOptions } from "./client.js";
export {
  Admin,
  type AdminOptions,
  type AdminQuery,
  type StatusReport,
  type WorkersReport,
  type WorkerInfo,
  type SchedulersReport,
} from "./admin.js";
export { EmqJobError, EmqClientError, type EmqClientErrorCode } from "./errors.js";
