// Module entry. Napi::Addon keeps one instance per environment (main thread, each worker), so
// nothing JS-visible is shared between threads; the instance owns the environment's descriptor
// bookkeeping (env_files.h). The only process-wide state is plain data (the CRC32C kernel chosen
// at load, the errno-name lookup) and, on Windows, the descriptor table.
#include "bindings.h"
#include "commit.h"
#include "env_files.h"
#include "platform.h"
#include "test_hooks.h"

#ifndef DURABILITY_VERSION
#error "DURABILITY_VERSION must be defined by the build (CMakeLists.txt reads package.json)"
#endif

#ifndef DURABILITY_SOURCE_HASH
#error "DURABILITY_SOURCE_HASH must be defined by the build (CMakeLists.txt hashes native/)"
#endif

#if defined(DURABILITY_SANITIZE)
#define DURABILITY_SANITIZED true
#else
#define DURABILITY_SANITIZED false
#endif

#if defined(DURABILITY_TEST_HOOKS)
#define DURABILITY_HAS_TEST_HOOKS true
#else
#define DURABILITY_HAS_TEST_HOOKS false
#endif

namespace durability {

class DurabilityAddon final : public Napi::Addon<DurabilityAddon> {
 public:
  DurabilityAddon(Napi::Env env, Napi::Object exports) : files_(env) {
    constexpr auto kAttrs = napi_enumerable;
    DefineAddon(exports, {
                             InstanceValue("buildInfo", BuildInfo(env), kAttrs),
                             InstanceValue("constants", Constants(env), kAttrs),
                             RawMethod(env, "crc32cImpl", &Crc32cImplJs),
                             RawMethod(env, "crc32cKernels", &Crc32cKernelsJs),
                             RawMethod(env, "crc32cWithKernel", &Crc32cWithKernelJs),
                             RawMethod(env, "crc32c", &Crc32cJs),
                             RawMethod(env, "crc32cPortable", &Crc32cPortableJs),
                             RawMethod(env, "crc32cRanges", &Crc32cRangesJs),
                             Method<&OpenJs>("open"),
                             Method<&CloseJs>("close"),
                             Method<&PwriteJs>("pwrite"),
                             Method<&PwriteAsyncJs>("pwriteAsync"),
                             Method<&PwritevJs>("pwritev"),
                             Method<&PreadJs>("pread"),
                             Method<&FallocateJs>("fallocate"),
                             Method<&FtruncateJs>("ftruncate"),
                             Method<&FdatasyncJs>("fdatasync"),
                             Method<&FdatasyncAsyncJs>("fdatasyncAsync"),
                             Method<&FsyncDirJs>("fsyncDir"),
                             Method<&FsyncDirAsyncJs>("fsyncDirAsync"),
                             Method<&FileSizeJs>("fileSize"),
                             Method<&RenameJs>("rename"),
                             Method<&UnlinkJs>("unlink"),
                             Method<&UnlinkAsyncJs>("unlinkAsync"),
                             Method<&MkdirJs>("mkdir"),
                             Method<&TryLockExclusiveJs>("tryLockExclusive"),
                             Method<&UnlockJs>("unlock"),
                             Method<&CommitAsyncJs>("commitAsync"),
                             Method<&WaitCommitsJs>("waitCommits"),
                             Method<&CommitStatsJs>("commitStats"),
                         });
#if defined(DURABILITY_TEST_HOOKS)
    DefineAddon(exports, {
                             Method<&SetFaultInjectionJs>("__setFaultInjection"),
                             Method<&CompletionStatsJs>("__completionStats"),
                             Method<&ErrnoNameOfWin32Js>("__errnoNameOfWin32"),
                         });
#endif
  }

 EnvFiles& files() { return files_; }

 private:
  EnvFiles files_;

  using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

  template <Fn F>
  Napi::Value Call(const Napi::CallbackInfo& info) {
    return F(info);
  }

  template <Fn F>
  static AddonProp Method(const char* name) {
    return InstanceMethod<&DurabilityAddon::Call<F>>(name, napi_enumerable);
  }

  static AddonProp RawMethod(Napi::Env env, const char* name, napi_callback cb) {
    napi_value fn = nullptr;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
    return InstanceValue(name, Napi::Value(env, fn), napi_enumerable);
  }

  static Napi::Object BuildInfo(Napi::Env env) {
    Napi::Object info = Napi::Object::New(env);
    info.Set("version", Napi::String::New(env, DURABILITY_VERSION));
    info.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
    info.Set("sanitized", Napi::Boolean::New(env, DURABILITY_SANITIZED));
    info.Set("testHooks", Napi::Boolean::New(env, DURABILITY_HAS_TEST_HOOKS));
    info.Set("sourceHash", Napi::String::New(env, DURABILITY_SOURCE_HASH));
    info.Freeze();
    return info;
  }

  static Napi::Object Constants(Napi::Env env) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("O_RDONLY", Napi::Number::New(env, kOpenReadOnly));
    c.Set("O_WRONLY", Napi::Number::New(env, kOpenWriteOnly));
    c.Set("O_RDWR", Napi::Number::New(env, kOpenReadWrite));
    c.Set("O_CREAT", Napi::Number::New(env, kOpenCreate));
    c.Set("O_EXCL", Napi::Number::New(env, kOpenExclusive));
    c.Set("O_TRUNC", Napi::Number::New(env, kOpenTruncate));
    c.Set("O_APPEND", Napi::Number::New(env, kOpenAppend));
    c.Freeze();
    return c;
  }
};

EnvFiles& FilesOf(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);  // set by Napi::Addon before any binding can run
  return static_cast<DurabilityAddon*>(data)->files();
}

void ForgetCommitThread(napi_env env, CommitThread* thread) {
  void* data = nullptr;
  if (env == nullptr || napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return;
  static_cast<DurabilityAddon*>(data)->files().ForgetCommits(thread);
}

bool EnvStopping(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return true;
  if (static_cast<DurabilityAddon*>(data)->files().stopping()) return true;
  // Node-API has no "is stopping" query, but every call that may run JS first checks that the
  // env can still call into JS and fails with napi_pending_exception when it cannot (a worker
  // being terminated or ending). strict_equals on two undefineds is such a call that runs nothing.
  napi_value undefined = nullptr;
  bool same = false;
  return napi_get_undefined(env, &undefined) != napi_ok || napi_strict_equals(env, undefined, undefined, &same) != napi_ok;
}

}  // namespace durability

using durability::DurabilityAddon;
NODE_API_NAMED_ADDON(durability, DurabilityAddon)
