/**
 * stackdistiller for StackTach-TS: OpenStack notification → typed Event (spec §3).
 *
 *   const distiller = Distiller.fromFile('event_definitions.yaml', { catchAll: false });
 *   const event = distiller.distill(notification, DateTime.now());
 *   if (event === null)                 → no definition matched: dropped, as upstream
 *   else if (!isValidForStorage(event)) → matched but no traits: upstream discarded it; quarantine
 *   else                                → store
 * A PoisonMessageError from distill() means the notification can never be distilled.
 */
export { Distiller, isValidForStorage, type DistillerOptions } from './distiller.js';
export { BUILTIN_PLUGINS, PluginParameterError, type TraitMatch, type TraitPlugin, type TraitPluginFactory } from './plugins.js';
