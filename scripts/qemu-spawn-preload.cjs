// Preloaded (node --require) into a foreign-architecture Node that runs under qemu-user, by
// scripts/test-platforms.mjs. Without binfmt_misc the kernel cannot exec that Node's binary, so
// a test that spawns process.execPath (a child writer, the CLI) would fail with ENOEXEC. This
// routes exactly those spawns through the same emulator; nothing else changes.
'use strict';
const cp = require('node:child_process');

const qemu = process.env.DURABILITY_QEMU; // absolute path: a test may narrow PATH for its child
if (qemu) {
  const self = process.execPath;
  const ownSpawn = cp.ChildProcess.prototype.spawn;
  // spawn, fork, exec and execFile all end here; options.args[0] is argv0.
  cp.ChildProcess.prototype.spawn = function spawn(options) {
    if (options && options.file === self) options = { ...options, file: qemu, args: [qemu, '-L', '/', self, ...options.args.slice(1)] };
    return ownSpawn.call(this, options);
  };
  const ownSpawnSync = cp.spawnSync;
  cp.spawnSync = function spawnSync(file, args, options) {
    if (file !== self) return ownSpawnSync.apply(this, arguments);
    if (!Array.isArray(args)) return ownSpawnSync.call(this, qemu, ['-L', '/', self], args);
    return ownSpawnSync.call(this, qemu, ['-L', '/', self, ...args], options);
  };
}
