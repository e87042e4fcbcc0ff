/**
 * winchester trigger definitions and matching (spec §4.2, §4.3, §4.9): loading triggers.yaml
 * strictly, matching events, distinguishing traits and their stream key, incremental fire
 * criteria, and per-trigger debugging. Pure logic: no database, no clock.
 */
export { Criterion, type CriterionSpec } from './criteria.js';
export { TriggerDebugger, type DebugGroup, type DebugGroupName, type DebugLevel } from './debugger.js';
export { TriggerDefinition, type MatchResult, type TriggerDefinitionSpec } from './definition.js';
export {
  decodeDistinguishingKey,
  DistinguishedBy,
  distinguishingKey,
  isTimeRangeValue,
  type DistinguishingRawValue,
  type DistinguishingValue,
  type TimeRangeValue,
} from './distinguishing.js';
export { loadPipelinesOf, loadTriggerDefinitions, loadTriggers, triggerDefinitionsFromValue, type LoadTriggerOptions } from './load.js';
export { pythonEquals, type TraitCriterion } from './trait-criterion.js';
