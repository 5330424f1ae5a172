// Types of the raw native binding (build/Release/durability.node or prebuilds/<platform>-<arch>/).
// Only lib/backend/native.ts touches this surface; everything else goes through FileBackend.
//
// Conventions:
// - Descriptors are plain numbers. Offsets and lengths are non-negative safe integers.
// - A descriptor belongs to the thread (Node environment) that opened it and is closed with
//   close(). When that environment is torn down (a worker that ends or is terminated, or the main
//   thread's normal exit), the ones it still has open are unlocked and closed.
// - One surface on every platform (native/platform.h): macOS syncs with F_FULLFSYNC and
//   preallocates with F_PREALLOCATE; Windows uses FlushFileBuffers, LockFileEx and its own
//   descriptor numbers (not usable with node:fs), and has no directory sync (fsyncDir only checks
//   that the path is a directory).
// - Every OS failure throws (sync) or rejects (async) with an Error carrying
//   `code` (e.g. 'EIO'), `errno` (positive number), `syscall` and, where there is one, `path`.
// - Bad arguments throw TypeError / RangeError synchronously, also from the async forms.
// - Async forms run on libuv's threadpool; the views passed to them are referenced until
//   completion, but not their bytes: the caller must not resize, detach or transfer the buffer
//   meanwhile (lib/backend/native.ts passes its own copy of a caller's bytes).

export type Crc32cImpl = 'sse42' | 'armv8' | 'table';

export interface NativeBinding {
  readonly buildInfo: {
    readonly version: string;
    readonly napiVersion: number;
    readonly sanitized: boolean;
    /** Built with DURABILITY_TEST_HOOKS (TestNativeBinding's methods); false for every shipped binary. */
    readonly testHooks: boolean;
    /** SHA-256 over the native sources it was built from (CMakeLists.txt); a prebuild must match the tree. */
    readonly sourceHash: string;
  };

  /** Which CRC32C implementation `crc32c` uses on this CPU (chosen once, at load). */
  crc32cImpl(): Crc32cImpl;
  /**
   * Every CRC32C kernel this CPU can run, fastest first; `crc32c` uses the first. Names:
   * 'sse42+vpclmulqdq' (x86 AVX2 + VPCLMULQDQ), 'sse42+pclmul', 'sse42', 'armv8', 'table'.
   */
  crc32cKernels(): string[];
  /** crc32c through a named kernel from crc32cKernels() (tests, benches); RangeError for any other name. */
  crc32cWithKernel(kernel: string, data: Uint8Array, crc?: number): number;
  /** CRC32C (Castagnoli) of bytes, continuing from `crc` (default 0). Unmasked, standard init/xorout. */
  crc32c(data: Uint8Array, crc?: number): number;
  /** Same, forced through the portable table-driven fallback (for tests and benches). */
  crc32cPortable(data: Uint8Array, crc?: number): number;
  /**
   * Many checksums in one call: for i < count, out[i] = crc32c(data[ranges[2i] .. ranges[2i]+ranges[2i+1]), seed).
   * ranges.length >= 2*count, out.length >= count, and every range inside data; else RangeError.
   */
  crc32cRanges(data: Uint8Array, ranges: Uint32Array, count: number, out: Uint32Array, seed: number): void;

  /** open(2) with O_CLOEXEC always added. Flags from `constants`. Returns the descriptor. */
  open(path: string, flags: number, mode?: number): number;
  /**
   * Waits for the descriptor's commits (commitAsync) to run, stops its commit thread, then closes.
   * It does not wait for thread-pool operations on it (pwriteAsync, fdatasyncAsync): the caller
   * closes only once those settled (lib/directory/writable-base.ts defers its close until then),
   * or they would run on a closed number, or one the OS has since given to another file.
   */
  close(fd: number): void;
  /** Writes all of data at offset (loops over short writes). Returns bytes written (= data.length). */
  pwrite(fd: number, data: Uint8Array, offset: number): number;
  pwriteAsync(fd: number, data: Uint8Array, offset: number): Promise<number>;
  /**
   * Gather write of all chunks, contiguously from offset (loops over short writes). Returns total bytes.
   * At most 2^20 chunks (else RangeError). Every element is read before any is written from, so a
   * chunk that an index getter detaches counts as empty, like any detached view.
   */
  pwritev(fd: number, chunks: readonly Uint8Array[], offset: number): number;
  /** Reads up to target.length bytes at offset into target; returns bytes read (0 at end of file). Loops until full or EOF. */
  pread(fd: number, target: Uint8Array, offset: number): number;
  /** fallocate(fd, 0, offset, length): reserves blocks and extends the size. Throws EOPNOTSUPP etc. where unsupported. */
  fallocate(fd: number, offset: number, length: number): void;
  ftruncate(fd: number, length: number): void;
  fdatasync(fd: number): void;
  fdatasyncAsync(fd: number): Promise<void>;
  /** Opens the directory O_RDONLY|O_DIRECTORY, fsyncs it, closes it. */
  fsyncDir(path: string): void;
  fsyncDirAsync(path: string): Promise<void>;
  /** Size of the open file (fstat st_size). */
  fileSize(fd: number): number;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /** unlink on libuv's thread pool: freeing a large file's blocks can take milliseconds. */
  unlinkAsync(path: string): Promise<void>;
  mkdir(path: string, mode?: number): void;
  /**
   * flock(fd, LOCK_EX|LOCK_NB). Returns true when acquired, false when another open file description holds it
   * (EWOULDBLOCK). Other failures (e.g. ENOLCK, EOPNOTSUPP on some NFS) throw.
   */
  tryLockExclusive(fd: number): boolean;
  unlock(fd: number): void;

  /**
   * Group commit as ONE job of the descriptor's commit thread (started on first use, stopped by
   * close(fd)): pwritev(chunks) contiguously at offset (skipped when they hold no bytes), then
   * ftruncate(fd, truncateTo) unless truncateTo is -1, then fdatasync(fd), then open+fsync+close
   * of each directory in `dirs`, in order. Stops at the first failure and rejects with it (`path`
   * set for a directory step). Jobs of one descriptor run in call order, each after the previous
   * one's fdatasync; after a failure every later job rejects with the same error, unrun. The
   * chunks (as pwritev takes them) are referenced until it settles, and read after every other
   * argument. A descriptor this environment did not open, or has closed, rejects with EBADF and
   * gets no thread. More than 1024 `dirs` throws a RangeError.
   * `zeroChunks` (default 0): the last that many chunks are zeros ahead of the log, written in a
   * step of their own after the others: their range is first reserved (fallocate); when the
   * reservation or their write fails with ENOSPC or EDQUOT they are left out, the job does not
   * fail, goes on and resolves 'zeros-skipped' (an unsupported fallocate just writes them).
   */
  commitAsync(fd: number, chunks: readonly Uint8Array[], offset: number, truncateTo: number, dirs: readonly string[], zeroChunks?: number): Promise<void | 'zeros-skipped'>;
  /**
   * Blocks until every commitAsync job of the descriptor has run (their promises may not be
   * settled yet), then throws the descriptor's first commit failure, if any. Returns at once when
   * the descriptor never committed.
   */
  waitCommits(fd: number): void;
  /**
   * Process-wide totals over the commits settled so far: how many, nanoseconds in the gather
   * write, in ftruncate + fdatasync + directory fsyncs, and from the last step's end on the
   * commit thread to the event loop settling the promise.
   */
  commitStats(): { commits: number; writeNs: number; syncNs: number; wakeNs: number };

  readonly constants: {
    readonly O_RDONLY: number;
    readonly O_WRONLY: number;
    readonly O_RDWR: number;
    readonly O_CREAT: number;
    readonly O_EXCL: number;
    readonly O_TRUNC: number;
    readonly O_APPEND: number;
  };
}

/** A test build's binding (buildInfo.testHooks; CMake option DURABILITY_TEST_HOOKS, native/test_hooks.h). */
export interface TestNativeBinding extends NativeBinding {
  /**
   * Fault hook, inert until called: the (after+1)th `op` step of commitAsync fails with `errno`
   * (a positive errno number, e.g. os.constants.errno.EIO) instead of running ('write': the gather
   * write of the chunks before `zeroChunks`; 'fallocate' and 'zeros': the reservation and the write
   * of those zeros); once, or every time
   * from then on with `persistent`. 'pread': one read of pread (any reader's); `short` without
   * errno makes it read one byte instead of failing (a read cut short before the end of the file),
   * `short` with errno cuts the `after` reads before the failing one short. An injected EINTR is
   * read again, as a real one is, up to 1000 times in a row (then the read fails with EINTR, so a
   * persistent one ends the read). Process-wide (it stands for the disk). null clears it. Other
   * bindings are never affected.
   */
  __setFaultInjection(
    spec:
      | { op: 'write' | 'fallocate' | 'zeros' | 'ftruncate' | 'fdatasync' | 'fsyncDir' | 'pread'; errno: number; after?: number; persistent?: boolean }
      | { op: 'pread'; short: true; errno?: number; after?: number; persistent?: boolean }
      | null,
  ): void;
  /**
   * Process-wide counts of how off-thread completions (thread pool, commit threads) ended: `settled` their promise, were
   * `dropped` because their environment could no longer run JS, or had a Node-API call fail while
   * settling (`settleFailed`: a completion that called into a dying environment).
   */
  __completionStats(): { settled: number; dropped: number; settleFailed: number };
  /** The errno name ('ENOSPC', 'EIO' for a code the core does not map) the core reports for a Win32 error code, on any host (native/win32_errno.h). */
  __errnoNameOfWin32(code: number): string;
}
