/**
 * pipelines.yaml (spec §4.4): pipeline name → list of handlers. Here only the names, which
 * triggers.yaml refers to; the pipeline worker validates the handlers themselves.
 */
import { ConfigError } from '../errors.js';
import { readYamlFile } from './yaml-file.js';

export function loadPipelineNames(file: string): Set<string> {
  const data = readYamlFile(file);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(file, '', 'expected a mapping of pipeline names to handler lists');
  }
  return new Set(Object.keys(data));
}
