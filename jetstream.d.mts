// Types for the ESM entry jetstream.mjs: the declarations of the CommonJS build it re-exports.
export * from './dist/lib/jetstream/index.js';
declare const cjs: typeof import('./dist/lib/jetstream/index.js');
export default cjs;
