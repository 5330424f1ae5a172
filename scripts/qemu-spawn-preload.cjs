// Preloaded (node --require) into a foreign-architecture Node that runs under qemu-user, by
// scripts/test-platforms.mjs. Without binfmt_misc the kernel cannot exec that Node's binary, so
// a test that spawns process.execPath (a child writer, the CLI, `sh -c 'ulimit …; exec "$0"'`)
// would fail with ENOEXEC. This puts DURABILITY_EXEC_WRAPPER (a script that runs the same Node
// under the same emulator) wherever process.execPath is the program or an argument of a spawn.
'use strict';
const cp = require('node:child_process');

const wrapper = process.env.DURABILITY_EXEC_WRAPPER;
if (wrapper) {
  const self = process.execPath;
  const swap = (arg) => (arg === self ? wrapper : arg);
  const ownSpawn = cp.ChildProcess.prototype.spawn;
  // spawn, fork, exec and execFile all end here; options.args[0] is argv0.
  cp.ChildProcess.prototype.spawn = function spawn(options) {
    if (options && typeof options.file === 'string' && Array.isArray(options.args)) {
      options = { ...options, file: swap(options.file), args: options.args.map(swap) };
    }
    return ownSpawn.call(this, options);
  };
  // The synchronous forms do not go through ChildProcess: wrap the two the tests call.
  for (const name of ['spawnSync', 'execFileSync']) {
    const own = cp[name];
    cp[name] = function (file, args, ...rest) {
      return own.call(this, swap(file), Array.isArray(args) ? args.map(swap) : args, ...rest);
    };
  }
}
