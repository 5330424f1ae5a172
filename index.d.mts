// Types for the ESM entry (index.mjs): the same declarations as the CommonJS build it re-exports.
export * from './dist/lib/index.js';
declare const cjs: typeof import('./dist/lib/index.js');
export default cjs;
