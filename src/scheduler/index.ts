// The eMQP scheduler role: runs jobs on an interval or a cron expression through a broker.
export {
  Scheduler,
  SchedulerError,
  realClock,
  type SchedulerOptions,
  type SchedulerClock,
  type SchedulerCounters,
  type SchedulerEvents,
  type ScheduleInfo,
} from "./scheduler.js";
export { jobHash, jobHashOfBody, identityOf } from "./job-hash.js";
export { ScheduleStore, defaultDataDir, STORE_FILE, type ScheduleRecord } from "./store.js";
export { CronError, CRON_MACROS, parseCron, next as nextCronTime, matches as cronMatches, type CronSchedule, type CronTimeZone, type CronFieldName } from "./cron.js";
