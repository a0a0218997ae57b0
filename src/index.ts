// Public entry point: zeromq.js-v6-shaped sockets and their errors and events.
export { Socket, type WaitOptions } from "./socket/socket.js";
export { Dealer, type DealerOptions } from "./socket/dealer.js";
export { Router, type RouterOptions, type RouterConnectOptions } from "./socket/router.js";
export { Request, type RequestOptions } from "./socket/request.js";
export { Reply, type ReplyOptions } from "./socket/reply.js";
export { Push, type PushOptions } from "./socket/push.js";
export { Pull, type PullOptions } from "./socket/pull.js";
export { Pair, type PairOptions } from "./socket/pair.js";
export { SocketError, type SocketErrorCode } from "./socket/errors.js";
export { Observer, type SocketEvent, type EventType } from "./socket/observer.js";
export type { SocketOptions } from "./socket/options.js";
export type { Message, MessageLike } from "./socket/message.js";
export { ZmtpError, type ZmtpErrorCode, type ZmtpErrorReason } from "./zmtp/errors.js";
export { Proxy, type ProxyOptions } from "./socket/proxy.js";
export { Publisher, type PublisherOptions } from "./socket/publisher.js";
export { Subscriber, type SubscriberOptions } from "./socket/subscriber.js";
export { XPublisher, type XPublisherOptions, type XPublisherVerbosity } from "./socket/xpublisher.js";
export { XSubscriber, type XSubscriberOptions } from "./socket/xsubscriber.js";
export type { AuthRequest, AuthVerdict, Authenticator } from "./socket/security.js";
// eMQP roles (EventMQ-compatible broker, worker and clients) and the logger they take.
export { Broker, type BrokerOptions, type BrokerState, type BrokerCounters } from "./broker/broker.js";
export * from "./worker/index.js";
export * from "./client/index.js";
export { createLogger, silentLogger, type Logger, type LoggerOptions, type LogLevel, type LogFields } from "./log/logger.js";
export type { Job, JobResult, JobFailure, Headers as EmqpHeaders, QueueWeights } from "./emqp/index.js";
export * from "./scheduler/index.js";
export * from "./pubsub/index.js";
// The Marconi-style queue API: server (hosted by emq-broker), store and QueueClient.
export * from "./queue-api/index.js";
