// Checkpoint files: format, store (write, load newest valid, prune) and observer hooks.
export { CHECKPOINT_HEADER_SIZE, CHECKPOINT_VERSION, MAX_CHECKPOINT_PAYLOAD, encodeCheckpoint } from './format';
export {
  CHECKPOINT_DIR, DEFAULT_CHECKPOINT_RETENTION, checkpointFileName, checkpointPath, listCheckpoints, loadLatestCheckpoint,
  parseCheckpointFileName, pruneCheckpoints, readCheckpointFile, writeCheckpoint,
  type CheckpointFile, type CheckpointRead, type LoadCheckpointOptions, type LoadCheckpointResult, type LoadedCheckpoint,
  type WriteCheckpointOptions,
} from './store';
export type { CheckpointObserver, SkippedCheckpoint, WrittenCheckpoint } from './observer';
