/**
 * src/rl/tasks: verifiable tasks with binary reward (addition, sorting), their character-level
 * tokenizer, and the cold-start demonstration sources. `makeTask(name, options)` builds a task
 * from a config by name.
 */
import { ConfigError } from '../../tensor/index.js';
import { additionTask, type AdditionOptions } from './addition.js';
import { sortingTask, type SortingOptions } from './sorting.js';
import type { Task } from './tokenizer.js';

export * from './tokenizer.js';
export * from './addition.js';
export * from './sorting.js';
export * from './demonstrations.js';

export type TaskName = 'addition' | 'sorting';
export interface TaskOptionsByName {
  addition: AdditionOptions;
  sorting: SortingOptions;
}

/** Task constructors by name. */
export const TASKS: Readonly<{ [K in TaskName]: (options?: TaskOptionsByName[K]) => Task }> = Object.freeze({
  addition: additionTask,
  sorting: sortingTask,
});

/** The task called `name`, built with `options`; ConfigError for an unknown name or option. */
export function makeTask(name: string, options: Record<string, unknown> = {}): Task {
  if (!Object.prototype.hasOwnProperty.call(TASKS, name)) {
    throw new ConfigError(`makeTask: unknown task ${JSON.stringify(name)}; expected one of ${Object.keys(TASKS).join(', ')}`);
  }
  return (TASKS[name as TaskName] as (o: unknown) => Task)(options);
}
