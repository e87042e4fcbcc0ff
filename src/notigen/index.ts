/**
 * notigen (spec §8.1): realistic Nova notification traffic from upstream's templates, for the
 * sandbox, benchmarks and tests. `stv3 notigen` is the command line over this API.
 *
 *   const generator = createGenerator({ templates: loadTemplates(DEFAULT_TEMPLATE_DIR), seed: 42,
 *                                       start: DateTime.of(2015, 2, 1), count: 10_000 });
 *   const summary = await publishNotifications([{ name: 'local', url: 'amqp://guest:guest@127.0.0.1' }],
 *                                              asOutgoing(generator), { rate: 1000 });
 */
export { createGenerator, NotificationGenerator, type GeneratedNotification, type GeneratorOptions, type GeneratorStats } from './generator.js';
export { classifyTemplates, type OperationKind, type OperationTemplate, type TemplateSet } from './operations.js';
export { asOutgoing, readNotificationFile, readNotificationPath, writeNotificationFile, type WriteOptions } from './files.js';
export { inRealTime, RateLimiter } from './pacing.js';
export {
  displayUrl,
  publishNotifications,
  PublishError,
  type CellTarget,
  type OutgoingNotification,
  type PublishOptions,
  type PublishProgress,
  type PublishSummary,
} from './publisher.js';
export { DEFAULT_TEMPLATE_DIR, generateNotifications, instantiate, loadTemplates, seededRandom, type Random, type Template } from './templates.js';
