export type { CommitPlan, CommitResult, Directory, DirectoryLock, ReadableFile, WritableFile } from './directory';
export { FsDirectory, type FsDirectoryOptions } from './fs';
export { MemoryDirectory, type MemoryDirectoryOptions } from './memory';
export { SimulatedDirectory, type SimulatedDirectoryOptions, type CrashMode, type CrashOptions, type ScheduledCrash, type SimulatedOperation } from './simulated';
export type { FileCrashMode } from './crash-model';
export type { FaultSpec, RandomFaultSpec, InjectedFault, FaultOp, FaultError } from './faults';
export { normalizePath } from './path';
export { isTempName } from './temp';
