// The eMQP worker role: registers with a broker's backend and runs jobs with named handlers.
export { Worker, DEFAULT_CONCURRENCY, DEFAULT_JOB_TIMEOUT, type WorkerOptions, type WorkerCounters, type WorkerEvents, type StopOptions } from "./worker.js";
export { HandlerRegistry, candidateNames, handlersFromModule, type Handler, type JobContext } from "./handlers.js";
export { WorkerError, type WorkerErrorCode } from "./errors.js";
