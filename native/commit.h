// Group commit: a batch of frames written and made durable on the descriptor's commit thread
// (binding.d.ts commitAsync, commit_thread.h).
#pragma once

#include <napi.h>

namespace durability {

/** commitAsync(fd, chunks, offset, truncateTo, dirs, zeroChunks?) → Promise<void | 'zeros-skipped'>. */
Napi::Value CommitAsyncJs(const Napi::CallbackInfo& info);
/** commitStats() → process-wide totals of settled commits: { commits, writeNs, syncNs, wakeNs }. */
Napi::Value CommitStatsJs(const Napi::CallbackInfo& info);
/** waitCommits(fd): blocks until the jobs queued on the descriptor's commit thread have run; throws its first failure. */
Napi::Value WaitCommitsJs(const Napi::CallbackInfo& info);

}  // namespace durability
