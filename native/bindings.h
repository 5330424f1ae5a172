// The JS-callable functions of the binding (binding.d.ts), grouped by file:
// js_crc32c.cc, js_file.cc (synchronous), async_ops.cc (promise forms). addon.cc exports them.
#pragma once

#include <napi.h>

namespace durability {

// Raw napi_callbacks (hot path).
napi_value Crc32cImplJs(napi_env env, napi_callback_info info);
napi_value Crc32cKernelsJs(napi_env env, napi_callback_info info);
napi_value Crc32cWithKernelJs(napi_env env, napi_callback_info info);
napi_value Crc32cJs(napi_env env, napi_callback_info info);
napi_value Crc32cPortableJs(napi_env env, napi_callback_info info);
napi_value Crc32cRangesJs(napi_env env, napi_callback_info info);

Napi::Value OpenJs(const Napi::CallbackInfo& info);
Napi::Value CloseJs(const Napi::CallbackInfo& info);
Napi::Value PwriteJs(const Napi::CallbackInfo& info);
Napi::Value PwritevJs(const Napi::CallbackInfo& info);
Napi::Value PreadJs(const Napi::CallbackInfo& info);
Napi::Value FallocateJs(const Napi::CallbackInfo& info);
Napi::Value FtruncateJs(const Napi::CallbackInfo& info);
Napi::Value FdatasyncJs(const Napi::CallbackInfo& info);
Napi::Value FsyncDirJs(const Napi::CallbackInfo& info);
Napi::Value FileSizeJs(const Napi::CallbackInfo& info);
Napi::Value RenameJs(const Napi::CallbackInfo& info);
Napi::Value UnlinkJs(const Napi::CallbackInfo& info);
Napi::Value MkdirJs(const Napi::CallbackInfo& info);
Napi::Value TryLockExclusiveJs(const Napi::CallbackInfo& info);
Napi::Value UnlockJs(const Napi::CallbackInfo& info);

Napi::Value PwriteAsyncJs(const Napi::CallbackInfo& info);
Napi::Value FdatasyncAsyncJs(const Napi::CallbackInfo& info);
Napi::Value FsyncDirAsyncJs(const Napi::CallbackInfo& info);
Napi::Value UnlinkAsyncJs(const Napi::CallbackInfo& info);

}  // namespace durability
