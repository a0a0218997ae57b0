// Public entry point: zeromq.js-v6-shaped sockets and their errors and events.
export { Socket, type WaitOptions } from "./socket/socket.js";
export { Dealer, type DealerOptions } from "./socket/dealer.js";
export { Router, type RouterOptions, type RouterConnectOptions } from "./socket/router.js";
export { SocketError, type SocketErrorCode } from "./socket/errors.js";
export { Observer, type SocketEvent, type EventType } from "./socket/observer.js";
export type { SocketOptions } from "./socket/options.js";
export type { Message, MessageLike } from "./socket/message.js";
export { ZmtpError, type ZmtpErrorCode, type ZmtpErrorReason } from "./zmtp/errors.js";
export { Proxy, type ProxyOptions } from "./socket/proxy.js";
