// durability: crash-consistent persistence for Node.js.
export * from './errors';
export { channels, type DiagnosticEvent } from './diagnostics';
export * from './directory/index';
export type { BackendName, Checksummer, FileBackend } from './backend/backend';
export { availableBackends, backendByName, defaultBackend, nativeBackend, tsBackend } from './backend/select';
export * from './wal/index';
export * from './checkpoint/index';
export { recover, type RecoverOptions, type RecoverWriterOptions, type Recovery, type RecoveredLog } from './recover';
export { CheckpointPublisher, type CheckpointPublisherOptions, type PublishedCheckpoint } from './publisher';
export * from './recordlog/index';
export type { FollowOptions } from './wal/follow';
