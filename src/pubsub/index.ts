// The eMQP pub/sub role: the forwarder (EventMQ's emq-pubsub), a publisher client and a subscriber.
export { PubSub, type PubSubOptions, type PubSubState, type PubSubCounters } from "./forwarder.js";
export { EventPublisher, publishBody, type EventPublisherOptions } from "./publisher.js";
export { EventSubscriber, PublishedEvent, type EventSubscriberOptions } from "./subscriber.js";
