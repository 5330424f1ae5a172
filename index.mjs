// ESM entry: re-exports the one CommonJS build, so error classes and in-process lock state
// exist once whether a program imports or requires the package.
import cjs from './dist/lib/index.js';

export default cjs;
export const {
  WalWriter,
  WalReader,
  WalMaintenance,
  FsDirectory,
  MemoryDirectory,
  SimulatedDirectory,
  codecs,
  DurabilityError,
  IoError,
  CorruptionError,
  LockedError,
  PoisonedError,
  WalLockedError,
  WalPoisonedError,
  backendName,
} = cjs;
