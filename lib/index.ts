// durability: crash-consistent persistence for Node.js.
export * from './errors';
export { channels, type DiagnosticEvent } from './diagnostics';
export * from './directory/index';
export type { BackendName, Checksummer, FileBackend } from './backend/backend';
export { availableBackends, backendByName, defaultBackend, nativeBackend, tsBackend } from './backend/select';
export * from './wal/index';
