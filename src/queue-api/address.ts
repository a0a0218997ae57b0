// Where the queue API listens unless told otherwise: next to EventMQ's ports (47290-47299), on
// loopback, like every other emq default.
export const DEFAULT_QUEUE_API_ADDRESS = "tcp://127.0.0.1:47295";
