// Group commit: one thread-pool work item that writes a batch of frames and makes it durable
// (binding.d.ts commitAsync).
#pragma once

#include <napi.h>

namespace durability {

/** commitAsync(fd, chunks, offset, truncateTo, dirs) → Promise<void>. */
Napi::Value CommitAsyncJs(const Napi::CallbackInfo& info);

}  // namespace durability
