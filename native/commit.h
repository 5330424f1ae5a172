// Group commit: one thread-pool work item that writes a batch of frames and makes it durable
// (binding.d.ts commitAsync), plus the test-only syscall fault hook it consults.
#pragma once

#include <napi.h>

namespace durability {

/** commitAsync(fd, chunks, offset, truncateTo, dirs) → Promise<void>. */
Napi::Value CommitAsyncJs(const Napi::CallbackInfo& info);
/** __setFaultInjection({ op, errno, after?, persistent? } | null): arms or clears the commit fault hook. */
Napi::Value SetFaultInjectionJs(const Napi::CallbackInfo& info);

}  // namespace durability
