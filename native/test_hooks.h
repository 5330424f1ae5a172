// Hooks that exist only in a test build (CMake option DURABILITY_TEST_HOOKS: test:asan and the
// build-test/ addon the fault tests load). A release build compiles every hook below to nothing,
// so its commit path takes no lock and its binding has no __ methods.
//
// - Commit fault injection (__setFaultInjection): a chosen commitAsync step fails with a chosen
//   errno, as if the kernel had returned it, so the writer's failure handling can be proved on a
//   real file. Inert until armed; process-wide on purpose: it stands for the disk, which every
//   thread of the process shares. The same hook fails, or shortens to one byte, a pread of
//   PreadFull (platform_*.cc), so a reader's handling of a failing disk can be proved too.
// - Win32 error mapping (__errnoNameOfWin32): the errno name the core gives a Win32 error code
//   (win32_errno.h), checkable on any host, since no emulator can make NTFS report a full quota.
// - Completion counts (__completionStats): how each off-thread completion ended (thread pool or
//   commit thread), so a test can prove that completions running while an environment is torn
//   down never call into it.
#pragma once

#include <napi.h>

namespace durability {

// kAllocate and kZeros: the reservation and the write of a commit's zeros ahead of the log (commit.cc).
// kRead is no commit step: one pread(2) of PreadFull, whoever reads.
enum class CommitStep { kWrite, kAllocate, kZeros, kTruncate, kFdatasync, kFsyncDir, kRead };

/** What InjectedError(kRead) answers for a read to shorten to one byte rather than fail (`{ op: 'pread', short: true }`). */
constexpr int kShortRead = -1;

/** How an off-thread completion ended (promise_worker.h, commit_thread.cc). */
enum class Completion {
  kSettled,      // its promise was resolved or rejected
  kDropped,      // the environment could no longer run JS: nothing was created or called
  kSettleFailed  // a Node-API call on the way to settling failed
};

#if defined(DURABILITY_TEST_HOOKS)
/** The injected errno for this commit step, or 0 when it should run for real (kShortRead: see above). */
int InjectedError(CommitStep step);
void CountCompletion(Completion how);
/**
 * __setFaultInjection({ op, errno, after?, persistent? } | { op: 'pread', short: true, errno?, after?, persistent? } | null):
 * arms or clears the fault hook. short alone cuts the matching read short; with errno, the `after`
 * reads before the failing one are cut short.
 */
Napi::Value SetFaultInjectionJs(const Napi::CallbackInfo& info);
/** __completionStats() → { settled, dropped, settleFailed } since the process loaded the addon. */
Napi::Value CompletionStatsJs(const Napi::CallbackInfo& info);
/** __errnoNameOfWin32(code) → the errno name ("ENOSPC") the core reports for that Win32 error code. */
Napi::Value ErrnoNameOfWin32Js(const Napi::CallbackInfo& info);
#else
constexpr int InjectedError(CommitStep) { return 0; }
inline void CountCompletion(Completion) {}
#endif

}  // namespace durability
