import { diagnoseOnce } from '../diagnostics';
import { InvalidArgumentError } from '../errors';
import { typeName } from '../guards';
import { loadNative } from '../native';
import type { BackendName, FileBackend } from './backend';
import { NativeFileBackend } from './native';
import { NodeFsBackend } from './node-fs';

let nativeInstance: FileBackend | null | undefined;
let tsInstance: FileBackend | undefined;
let warned = false;

/** The native backend, or undefined when no binary loads here. */
export function nativeBackend(): FileBackend | undefined {
  if (nativeInstance === undefined) {
    const load = loadNative();
    nativeInstance = load.binding ? new NativeFileBackend(load.binding) : null;
  }
  return nativeInstance ?? undefined;
}

export function tsBackend(): FileBackend {
  tsInstance ??= new NodeFsBackend();
  return tsInstance;
}

/** Why the native backend is missing (one line per candidate tried), for messages and tests. */
export function nativeLoadAttempts(): readonly string[] {
  return loadNative().attempts;
}

/**
 * The backend FsDirectory uses unless told otherwise: DURABILITY_BACKEND=native|ts forces one;
 * otherwise native when it loads, else the node:fs backend with one process warning.
 */
export function defaultBackend(): FileBackend {
  return backendByName(forcedBackend());
}

function forcedBackend(): BackendName | undefined {
  const forced = process.env.DURABILITY_BACKEND;
  if (forced === undefined || forced === '') return undefined;
  if (forced !== 'native' && forced !== 'ts') {
    throw new InvalidArgumentError(`DURABILITY_BACKEND must be 'native' or 'ts', not ${JSON.stringify(forced)}`);
  }
  return forced;
}

/** 'ts', 'native' (throws when it does not load), or no name: native when it loads, else 'ts' with one warning. */
export function backendByName(name?: BackendName): FileBackend {
  // Any other value (a typo, 'TS') would otherwise fall through to the preference for native.
  if (name !== undefined && name !== 'native' && name !== 'ts') {
    throw new InvalidArgumentError(`backend name must be 'native' or 'ts', not ${typeName(name)}`);
  }
  if (name === 'ts') return tsBackend();
  const native = nativeBackend();
  if (native) return native;
  const attempts = nativeLoadAttempts();
  if (name === 'native') {
    throw new InvalidArgumentError(`the native backend was requested but does not load:\n  ${attempts.join('\n  ')}`);
  }
  if (!warned) {
    warned = true;
    const message = `durability: native core unavailable, using the pure-TypeScript backend (same format, slower).\n  ${attempts.join('\n  ')}`;
    diagnoseOnce({ kind: 'native-unavailable', message });
    process.emitWarning(message, { code: 'DURABILITY_NATIVE_UNAVAILABLE' });
  }
  return tsBackend();
}

/** Every backend that works in this process (tests run against each). */
export function availableBackends(): FileBackend[] {
  const out: FileBackend[] = [];
  const native = nativeBackend();
  if (native) out.push(native);
  out.push(tsBackend());
  return out;
}
